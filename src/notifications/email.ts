import nodemailer from "nodemailer";
import type { Channel, OutgoingMessage } from "./notifier.ts";

/** How long one SMTP delivery may take before it counts as failed. */
export const SMTP_TIMEOUT_MS = 10_000;

/**
 * E-mail through an SMTP server (nodemailer), when `CENTIME_SMTP_URL` is set
 * (`smtp://user:password@host:587`, `smtps://…:465`). Plain text only: no tracking, no remote
 * images. Without it, e-mail is caught for the development catcher.
 */
export function smtpChannel(options: { url: string; from: string }): Channel & { close(): void } {
  const url = new URL(options.url);
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : url.protocol === "smtps:" ? 465 : 587,
    secure: url.protocol === "smtps:",
    ...(url.username
      ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
      : {}),
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  });
  return {
    real: true,
    async deliver(message: OutgoingMessage) {
      await transport.sendMail({
        from: options.from,
        to: message.to,
        subject: message.subject ?? "",
        text: message.text,
      });
      return { status: "sent" };
    },
    close: () => transport.close(),
  };
}
