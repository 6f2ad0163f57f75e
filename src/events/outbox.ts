import type { DbRow } from "../db/rows.ts";
import { iso } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import type { EventType } from "./types.ts";

/**
 * Events are written in the same transaction as the state change that caused them (the outbox);
 * the webhook relay and `GET /v1/events` read them from there.
 */
export interface EventInput {
  merchantId: string;
  mode: string;
  type: EventType;
  objectId: string;
  paymentId?: string | null;
  object: unknown;
  nowMs: number;
}

export function eventRow(input: EventInput): DbRow {
  const id = newId("evt", input.nowMs);
  return {
    id,
    merchant_id: input.merchantId,
    mode: input.mode,
    type: input.type,
    object_id: input.objectId,
    payment_id: input.paymentId ?? null,
    data: { object: input.object },
    created: iso(input.nowMs),
  };
}

export interface EventRow {
  id: string;
  merchant_id: string;
  mode: string;
  type: string;
  object_id: string;
  payment_id: string | null;
  data: { object: unknown };
  created: Date;
}
