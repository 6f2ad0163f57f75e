import pino from "pino";

export type Logger = pino.Logger;

/** Paths never written to logs: keys, secrets, PINs and card numbers. */
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "*.secret",
  "*.secret_key",
  "*.publishable_key",
  "*.admin_key",
  "*.pin",
  "*.password",
  "*.card_number",
  "*.number",
  "*.cvc",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      base: { service: "centime" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
