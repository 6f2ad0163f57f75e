import { carrierRulesFor } from "../connectors/index.ts";
import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import { formatDateTime, formatMoney } from "../web/index.ts";
import type { ChannelName, Notifier } from "./notifier.ts";
import { localeOf, messageText } from "./templates.ts";

/**
 * Messages to subscribers that a country's rules ask for, made from billing's events: a receipt
 * after each charge (`subscription.receipt`, where the rules say `receipts`), the yearly reminder
 * (`subscription.reminder`, `annual_reminder`), and a confirmation of the terms when a
 * subscription is created in those same countries. By SMS to the subscriber's number when there
 * is one, else by e-mail; in the subscriber's locale.
 *
 * A worker walks the events after a cursor, once they are NOTICE_SETTLE_MS old. Each event is claimed in `payer_notices` before its
 * message is sent, so two workers never send one twice; a crash between the claim and the send
 * loses that one message (at most once: a duplicate charge notice is worse than a missing one).
 */
export const NOTICE_EVENTS = [
  "subscription.created",
  "subscription.receipt",
  "subscription.reminder",
] as const;
const CURSOR = "payer_notices_cursor";
/**
 * The types are literals, as in the partial index `events_notices` (migration 0350), so that the
 * plan reads that index: a run costs the events it finds, not every payment event after the cursor.
 */
export const NOTICE_EVENTS_SQL = `select id, merchant_id, mode, type, object_id, data, created from events
   where id > $1 and type in (${NOTICE_EVENTS.map((t) => `'${t}'`).join(", ")}) and created <= $3
   order by id limit $2`;
/** On the first run, events older than this are not notified (an installation upgrading). */
export const NOTICE_LOOKBACK_MS = 10 * 60_000;
/**
 * Events are read only once this old: an id is drawn when its transaction starts, so a slow
 * transaction can commit an id below the cursor; none stays open this long (request deadlines
 * are 15 s), so the cursor never passes an event still to come.
 */
export const NOTICE_SETTLE_MS = 30_000;

const KIND: Record<(typeof NOTICE_EVENTS)[number], string> = {
  "subscription.created": "confirmation",
  "subscription.receipt": "receipt",
  "subscription.reminder": "reminder",
};

interface EventRow {
  id: string;
  merchant_id: string;
  mode: string;
  type: (typeof NOTICE_EVENTS)[number];
  object_id: string;
  data: {
    object: {
      customer?: string;
      product?: string;
      amount?: number;
      currency?: string;
      recurring?: { period?: string };
      country?: string | null;
      operator?: string | null;
      payment_method?: { msisdn?: string };
    };
  };
  created: Date;
}

export async function runNotices(
  deps: { db: Db; notifier: Notifier; clock: Clock; portalUrl: string },
  batchSizeMax = 50,
): Promise<number> {
  const { db, clock } = deps;
  const nowMs = clock.nowMs();
  await db.query("insert into settings (name, value) values ($1, $2) on conflict (name) do nothing", [
    CURSOR,
    newId("evt", nowMs - NOTICE_LOOKBACK_MS),
  ]);
  const { rows: cursor } = await db.query<{ value: string }>("select value from settings where name = $1", [
    CURSOR,
  ]);
  const after = cursor[0]?.value ?? "";
  const { rows } = await db.query<EventRow>(NOTICE_EVENTS_SQL, [
    after,
    batchSizeMax,
    new Date(nowMs - NOTICE_SETTLE_MS),
  ]);
  for (const event of rows) {
    const claimed = await db.query(
      "insert into payer_notices (event_created, event_id, created) values ($1, $2, $3) on conflict do nothing",
      [event.created, event.id, new Date(nowMs)],
    );
    if (claimed.rowCount === 0) continue;
    await notify(deps, event, nowMs);
  }
  const last = rows.at(-1);
  if (last)
    await db.query("update settings set value = greatest(value, $2) where name = $1", [CURSOR, last.id]);
  return rows.length;
}

async function notify(
  deps: { db: Db; notifier: Notifier; portalUrl: string },
  event: EventRow,
  nowMs: number,
): Promise<void> {
  const sub = event.data.object;
  const rules = carrierRulesFor(sub.country ?? null, sub.operator ?? null);
  const required =
    event.type === "subscription.reminder" ? rules.annual_reminder : rules.receipts || rules.annual_reminder;
  if (!required) return;
  const { rows } = await deps.db.query<{
    msisdn: string | null;
    email: string | null;
    locale: string | null;
    merchant: string;
    product: string | null;
  }>(
    `select c.msisdn, c.email, c.locale, m.name as merchant, p.name as product
       from merchants m left join customers c on c.id = $2 left join products p on p.id = $3
      where m.id = $1`,
    [event.merchant_id, sub.customer ?? null, sub.product ?? null],
  );
  const who = rows[0];
  if (!who) return;
  const msisdn = sub.payment_method?.msisdn ?? who.msisdn;
  const channel: ChannelName | null = msisdn ? "sms" : who.email ? "email" : null;
  if (!channel) return;
  const locale = localeOf(who.locale);
  const kind = KIND[event.type];
  const values = {
    merchant: who.merchant,
    product: who.product ?? sub.product ?? "",
    amount: formatMoney(BigInt(sub.amount ?? 0), sub.currency ?? "EUR", locale),
    period: messageText(locale, "notice.period", { period: sub.recurring?.period ?? "" }),
    date: formatDateTime(new Date(event.created), locale),
    portal: deps.portalUrl,
  };
  await deps.notifier.send(
    {
      channel,
      to: channel === "sms" ? msisdn! : who.email!.toLowerCase(),
      kind: `subscription_${kind}`,
      locale,
      ...(channel === "email" ? { subject: messageText(locale, `notice.${kind}.subject`, values) } : {}),
      text: messageText(locale, `notice.${kind}`, values),
      merchantId: event.merchant_id,
      mode: event.mode,
      reference: event.object_id,
    },
    nowMs,
  );
}
