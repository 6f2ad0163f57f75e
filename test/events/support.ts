import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import type { Db } from "../../src/db/db.ts";
import { insertEvents } from "../../src/events/events.ts";
import type { Scope } from "../../src/events/model.ts";
import { newAgents, type Transport } from "../../src/events/sender.ts";
import { parseAllowedHosts, type Resolver, systemResolver } from "../../src/events/ssrf.ts";
import type { EventType } from "../../src/events/types.ts";
import type { Clock } from "../../src/platform/clock.ts";
import { newId } from "../../src/platform/ids.ts";

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** Answers the next requests with this handler (default: 204). */
  respond: (handler: (request: Received, response: ServerResponse) => void) => void;
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1 that records every request. */
export async function startReceiver(port = 0): Promise<Receiver> {
  const received: Received[] = [];
  let handler = (_request: Received, response: ServerResponse) => {
    response.statusCode = 204;
    response.end();
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const entry = { headers: request.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(entry);
      handler(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/hooks`,
    port: actual,
    received,
    respond: (next) => {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A transport that lets 127.0.0.1 through, as CENTIME_WEBHOOK_ALLOWED_HOSTS does in development. */
export function testTransport(
  options: { allowed?: string; resolver?: Resolver; timeoutMs?: number } = {},
): Transport & {
  close(): void;
} {
  const agents = newAgents();
  return {
    resolver: options.resolver ?? systemResolver,
    allowedHosts: parseAllowedHosts(options.allowed ?? "127.0.0.1"),
    timeoutMs: options.timeoutMs ?? 15_000,
    ...agents,
    close() {
      agents.httpAgent.destroy();
      agents.httpsAgent.destroy();
    },
  };
}

/**
 * Verifies with the official `standardwebhooks` package. It checks the timestamp against
 * Date.now(), so on a fake clock we show it the fake time for the duration of the call.
 */
export function verifyAt(secret: string, request: Received, nowMs: number): unknown {
  const realNow = Date.now;
  Date.now = () => nowMs;
  try {
    return new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
  } finally {
    Date.now = realNow;
  }
}

export function newScope(mode: "test" | "live" = "test"): Scope {
  return { merchantId: newId("mer"), mode };
}

/** Writes one payment event the way the core does: in a transaction with its state change. */
export async function paymentEvent(
  db: Db,
  scope: Scope,
  clock: Clock,
  options: { type?: EventType; paymentId?: string; amount?: bigint } = {},
): Promise<string> {
  const paymentId = options.paymentId ?? newId("pay", clock.nowMs());
  const [id] = await db.transaction((tx) =>
    insertEvents(tx, [
      {
        merchantId: scope.merchantId,
        mode: scope.mode,
        type: options.type ?? "payment.succeeded",
        object: {
          id: paymentId,
          object: "payment",
          amount: options.amount ?? 199n,
          currency: "EUR",
          status: "succeeded",
        },
        paymentId,
        createdMs: clock.nowMs(),
      },
    ]),
  );
  return id!;
}

/** When the next pending delivery is due, or undefined when none is. */
export async function nextDueMs(db: Db): Promise<number | undefined> {
  const { rows } = await db.query<{ due: Date | null }>(
    "select min(next_attempt_at) as due from webhook_deliveries where status = 'pending'",
  );
  const due = rows[0]?.due;
  return due ? new Date(due).getTime() : undefined;
}

export async function deliveryStatuses(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ status: string }>("select status from webhook_deliveries order by id");
  return rows.map((r) => r.status);
}
