import { randomBytes } from "node:crypto";
import { recordSystem } from "../audit/index.ts";
import { periodProblem } from "../billing/index.ts";
import type { Currencies } from "../currencies/index.ts";
import { isDecimal, minBigint, parseDecimal } from "../currencies/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import { listPage } from "../db/pages.ts";
import type { AccountSpec, Ledger } from "../ledger/index.ts";
import { accountId, movement } from "../ledger/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { toJsonAmount, toJsonSum } from "../platform/money.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import { applyOrThrow } from "../wallets/index.ts";
import {
  alphabetProblem,
  type CodeFormat,
  codeHash,
  DEFAULT_ALPHABET,
  DEFAULT_GROUP,
  DEFAULT_LENGTH,
  generateCode,
  LENGTH_MAX,
  LENGTH_MIN,
  parseSerial,
  printedCode,
  seal,
  serialText,
  unseal,
} from "./codes.ts";

export const BATCH_COUNT_MAX = 100_000;
const FORMAT_CACHE_MS = 10_000;

export interface BatchRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  status: "pending_approval" | "approved";
  count: number;
  value_amount: bigint | null;
  value_currency: string | null;
  entitlement: string | null;
  period: string | null;
  expires_at: Date | null;
  code_length: number;
  alphabet: string;
  group_size: number;
  serial_prefix: string;
  breakage_rate: string;
  created_by: string;
  approved_by: string | null;
  approved_at: Date | null;
  codes_sealed: string | null;
  codes_downloaded_at: Date | null;
  created: Date;
  breakage_recognized: bigint;
  closed_at: Date | null;
}

export interface BatchInput {
  count: number;
  value: { amount: number; currency: string } | { entitlement: string; period: string };
  expires_at?: string;
  code_format?: { length?: number; alphabet?: string; group?: number };
  serial_prefix?: string;
  breakage_rate?: string;
}

type Scope = { merchantId: string; mode: Mode };

export function presentBatch(b: BatchRow) {
  return {
    id: b.id,
    object: "voucher_batch" as const,
    created: iso(b.created.getTime()),
    status: b.status,
    count: b.count,
    value:
      b.value_amount !== null
        ? { amount: toJsonAmount(b.value_amount), currency: b.value_currency! }
        : { entitlement: b.entitlement!, period: b.period! },
    expires_at: b.expires_at ? iso(b.expires_at.getTime()) : null,
    code_format: { length: b.code_length, alphabet: b.alphabet, group: b.group_size },
    serial_prefix: b.serial_prefix,
    serial_first: serialText(b.serial_prefix, 1),
    serial_last: serialText(b.serial_prefix, b.count),
    breakage_rate: b.breakage_rate,
    approved_at: b.approved_at ? iso(b.approved_at.getTime()) : null,
    codes_downloaded: b.codes_downloaded_at !== null,
  };
}

/** A batch's cards carry its value as a liability from activation until redemption. */
export function liabilityAccount(scope: Scope, batchId: string, currency: string): AccountSpec {
  return {
    merchantId: scope.merchantId,
    mode: scope.mode,
    ownerId: batchId,
    purpose: "voucher_liability",
    currency,
  };
}

function merchantAccount(scope: Scope, purpose: string, currency: string): AccountSpec {
  return { merchantId: scope.merchantId, mode: scope.mode, ownerId: scope.merchantId, purpose, currency };
}

/** Scratch-card batches: creation, approval by the platform owner, the printer's file, activation, voiding. */
export class VoucherBatches {
  private key: Buffer | null = null;

  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
    private readonly currencies: Currencies,
    private readonly configuredKey?: string,
  ) {}

  /** The voucher key: configured, or generated once and kept in the settings table. */
  async codeKey(): Promise<Buffer> {
    if (this.key) return this.key;
    if (this.configuredKey) {
      this.key = Buffer.from(this.configuredKey, "utf8");
      return this.key;
    }
    await this.db.query(
      "insert into settings (name, value) values ('voucher_code_key', $1) on conflict do nothing",
      [randomBytes(32).toString("base64")],
    );
    const { rows } = await this.db.query<{ value: string }>(
      "select value from settings where name = 'voucher_code_key'",
    );
    this.key = Buffer.from(rows[0]!.value, "base64");
    return this.key;
  }

  private readonly formatCache = new Map<string, { atMs: number; formats: CodeFormat[] }>();

  /** The code formats of a merchant's approved batches (cached briefly): what a typed code may be. */
  async formats(scope: Scope, nowMs: number): Promise<CodeFormat[]> {
    const key = `${scope.merchantId}\u0000${scope.mode}`;
    const cached = this.formatCache.get(key);
    if (cached && nowMs - cached.atMs < FORMAT_CACHE_MS && nowMs >= cached.atMs) return cached.formats;
    const { rows } = await this.db.query<{ alphabet: string; code_length: number; group_size: number }>(
      `select distinct alphabet, code_length, group_size from voucher_batches
       where merchant_id = $1 and mode = $2 and status = 'approved'`,
      [scope.merchantId, scope.mode],
    );
    const formats = rows.map((r) => ({ alphabet: r.alphabet, length: r.code_length, group: r.group_size }));
    this.formatCache.set(key, { atMs: nowMs, formats });
    return formats;
  }

  async create(q: Queryable, scope: AuthScope, createdBy: string, input: BatchInput, nowMs: number) {
    const format: CodeFormat = {
      alphabet: input.code_format?.alphabet ?? DEFAULT_ALPHABET,
      length: input.code_format?.length ?? DEFAULT_LENGTH,
      group: input.code_format?.group ?? DEFAULT_GROUP,
    };
    const problem = alphabetProblem(format.alphabet);
    if (problem) throw new ApiError("parameter_invalid", "code_format.alphabet", `The alphabet ${problem}.`);
    if (format.length < LENGTH_MIN || format.length > Math.min(LENGTH_MAX, format.alphabet.length - 1))
      throw new ApiError(
        "parameter_out_of_range",
        "code_format.length",
        `A code has ${LENGTH_MIN} to ${Math.min(LENGTH_MAX, format.alphabet.length - 1)} characters with this alphabet.`,
      );
    const expiresAtMs = input.expires_at === undefined ? null : Date.parse(input.expires_at);
    if (expiresAtMs !== null && expiresAtMs <= nowMs)
      throw new ApiError("parameter_invalid", "expires_at", "expires_at is in the future.");
    const breakageRate = input.breakage_rate ?? "0";
    if (
      !isDecimal(breakageRate) ||
      parseDecimal(breakageRate).numerator >= parseDecimal(breakageRate).denominator
    )
      throw new ApiError(
        "parameter_invalid",
        "breakage_rate",
        "The expected breakage is a decimal string from 0 to below 1.",
      );
    let value: Pick<BatchRow, "value_amount" | "value_currency" | "entitlement" | "period">;
    if ("amount" in input.value) {
      await this.currencies.requireDigits(q, scope, input.value.currency, "value.currency");
      value = {
        value_amount: BigInt(input.value.amount),
        value_currency: input.value.currency,
        entitlement: null,
        period: null,
      };
    } else {
      const why = periodProblem(input.value.period);
      if (why) throw new ApiError("parameter_invalid", "value.period", `The period ${why}.`);
      value = {
        value_amount: null,
        value_currency: null,
        entitlement: input.value.entitlement,
        period: input.value.period,
      };
    }
    const row: BatchRow = {
      id: newId("vb", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      status: "pending_approval",
      count: input.count,
      ...value,
      expires_at: expiresAtMs === null ? null : new Date(expiresAtMs),
      code_length: format.length,
      alphabet: format.alphabet,
      group_size: format.group,
      serial_prefix: input.serial_prefix ?? "",
      breakage_rate: breakageRate,
      created_by: createdBy,
      approved_by: null,
      approved_at: null,
      codes_sealed: null,
      codes_downloaded_at: null,
      created: new Date(nowMs),
      breakage_recognized: 0n,
      closed_at: null,
    };
    await q.query(
      "insert into voucher_batches select * from json_populate_record(null::voucher_batches, $1::json)",
      [
        JSON.stringify({
          ...row,
          value_amount: row.value_amount?.toString() ?? null,
          breakage_recognized: "0",
        }),
      ],
    );
    return presentBatch(row);
  }

  async get(q: Queryable, scope: Scope, id: string, lock = false): Promise<BatchRow> {
    const { rows } = await q.query<BatchRow>(
      `select * from voucher_batches where id = $1 and merchant_id = $2 and mode = $3${lock ? " for update" : ""}`,
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such voucher batch: '${id}'.`);
    return rows[0];
  }

  /** The batch a code hash belongs to, in one statement (null when the code is unknown). */
  async batchOfCode(scope: Scope, hash: string): Promise<BatchRow | null> {
    const { rows } = await this.db.query<BatchRow>(
      `select b.* from vouchers v join voucher_batches b on b.id = v.batch_id
       where v.code_hash = $1 and v.merchant_id = $2 and v.mode = $3`,
      [hash, scope.merchantId, scope.mode],
    );
    return rows[0] ?? null;
  }

  async list(scope: AuthScope, page: ListParams) {
    const result = await listPage<BatchRow>(
      this.db,
      "voucher_batches",
      ["merchant_id = $1", "mode = $2"],
      [scope.merchantId, scope.mode],
      page,
    );
    return { rows: result.rows.map(presentBatch), hasMore: result.hasMore };
  }

  /**
   * Approval by the platform owner generates the codes: stored as keyed hashes, with serials; the
   * printer's file (serial, code) is kept sealed until its one download.
   */
  async approve(tx: Queryable, batchId: string, approver: string, key: Buffer, nowMs: number) {
    const { rows } = await tx.query<BatchRow>("select * from voucher_batches where id = $1 for update", [
      batchId,
    ]);
    const batch = rows[0];
    if (!batch) throw new ApiError("resource_missing", "id", `No such voucher batch: '${batchId}'.`);
    if (batch.created_by === approver) throw new ApiError("approver_is_creator");
    if (batch.status !== "pending_approval")
      throw new ApiError(
        "voucher_batch_unexpected_state",
        undefined,
        `This batch is ${batch.status} already.`,
      );
    const format = { alphabet: batch.alphabet, length: batch.code_length, group: batch.group_size };
    const lines = ["serial,code"];
    const hashes: string[] = [];
    for (let serial = 1; serial <= batch.count; serial++) {
      const code = generateCode(format);
      hashes.push(codeHash(key, batch.merchant_id, code));
      lines.push(`${serialText(batch.serial_prefix, serial)},${printedCode(code, batch.group_size)}`);
    }
    const CHUNK = 10_000;
    for (let start = 0; start < hashes.length; start += CHUNK) {
      const chunk = hashes.slice(start, start + CHUNK);
      await tx.query(
        `insert into vouchers (batch_id, serial_number, merchant_id, mode, code_hash, status)
         select $1, $2 + ordinality, $3, $4, hash, 'inactive' from unnest($5::text[]) with ordinality as hash`,
        [batch.id, start, batch.merchant_id, batch.mode, chunk],
      );
    }
    const approved: BatchRow = {
      ...batch,
      status: "approved",
      approved_by: approver,
      approved_at: new Date(nowMs),
      codes_sealed: seal(key, `${lines.join("\n")}\n`),
    };
    await tx.query(
      "update voucher_batches set status = 'approved', approved_by = $2, approved_at = $3, codes_sealed = $4 where id = $1",
      [batch.id, approver, approved.approved_at, approved.codes_sealed],
    );
    this.formatCache.delete(`${batch.merchant_id}\u0000${batch.mode}`);
    return presentBatch(approved);
  }

  /** The printer's file, once: the sealed copy is deleted in the same statement that hands it out. */
  async takeCodes(scope: Scope, id: string, nowMs: number): Promise<string> {
    const batch = await this.get(this.db, scope, id);
    if (batch.status !== "approved")
      throw new ApiError(
        "voucher_batch_unexpected_state",
        undefined,
        "The codes exist once the batch is approved.",
      );
    const { rows } = await this.db.query<{ sealed: string }>(
      `update voucher_batches b set codes_sealed = null, codes_downloaded_at = $2
       from (select id, codes_sealed as sealed from voucher_batches where id = $1 for update) old
       where b.id = old.id and old.sealed is not null returning old.sealed`,
      [id, new Date(nowMs)],
    );
    if (!rows[0]) throw new ApiError("voucher_codes_gone");
    return unseal(await this.codeKey(), rows[0].sealed);
  }

  private range(batch: BatchRow, from: number | string | undefined, to: number | string | undefined) {
    if (from === undefined && to === undefined) return { from: 1, to: batch.count };
    if (from === undefined || to === undefined)
      throw new ApiError(
        "parameter_missing",
        from === undefined ? "serial_from" : "serial_to",
        "Give both ends of the range.",
      );
    const a = parseSerial(batch.serial_prefix, from);
    const b = parseSerial(batch.serial_prefix, to);
    if (a === null || a > batch.count)
      throw new ApiError("parameter_invalid", "serial_from", "Not a serial of this batch.");
    if (b === null || b > batch.count)
      throw new ApiError("parameter_invalid", "serial_to", "Not a serial of this batch.");
    if (a > b) throw new ApiError("parameter_invalid", "serial_to", "serial_to is at least serial_from.");
    return { from: a, to: b };
  }

  async ensureAccounts(batch: BatchRow, nowMs: number) {
    if (batch.value_currency === null) return;
    const scope = { merchantId: batch.merchant_id, mode: batch.mode };
    await this.ledger.ensureAccounts(
      [
        liabilityAccount(scope, batch.id, batch.value_currency),
        merchantAccount(scope, "voucher_receivable", batch.value_currency),
        merchantAccount(scope, "voucher_redeeming", batch.value_currency),
        merchantAccount(scope, "voucher_breakage", batch.value_currency),
      ],
      nowMs,
    );
  }

  /** Cards sold in a shop: from now on they can be redeemed, and their value is a liability. */
  async activate(
    tx: Queryable,
    scope: AuthScope,
    id: string,
    input: { serial_from: number | string; serial_to: number | string },
    nowMs: number,
  ) {
    const batch = await this.get(tx, scope, id, true);
    if (batch.status !== "approved")
      throw new ApiError(
        "voucher_batch_unexpected_state",
        undefined,
        "Cards are activated once the batch is approved.",
      );
    if (batch.expires_at && batch.expires_at.getTime() <= nowMs)
      throw new ApiError("voucher_batch_unexpected_state", undefined, "This batch has expired.");
    const range = this.range(batch, input.serial_from, input.serial_to);
    const { rowCount } = await tx.query(
      `update vouchers set status = 'active', activated_at = $4
       where batch_id = $1 and serial_number between $2 and $3 and status = 'inactive'`,
      [batch.id, range.from, range.to, new Date(nowMs)],
    );
    await this.bookLiability(tx, batch, rowCount, "activation", nowMs);
    return {
      object: "voucher_activation" as const,
      batch: batch.id,
      activated: rowCount,
      ...this.rangeShown(batch, range),
    };
  }

  /** A stolen box: the range can no longer be redeemed; what was activated leaves the liability. */
  async void(
    tx: Queryable,
    scope: AuthScope,
    id: string,
    input: { serial_from?: number | string; serial_to?: number | string },
    nowMs: number,
  ) {
    const batch = await this.get(tx, scope, id, true);
    const range = this.range(batch, input.serial_from, input.serial_to);
    const { rows } = await tx.query<{ active: bigint; total: bigint }>(
      `with voided as (
         update vouchers v set status = 'voided'
         from (select serial_number, status as was from vouchers
               where batch_id = $1 and serial_number between $2 and $3 and status in ('inactive', 'active') for update) old
         where v.batch_id = $1 and v.serial_number = old.serial_number returning old.was)
       select count(*) filter (where was = 'active')::bigint as active, count(*)::bigint as total from voided`,
      [batch.id, range.from, range.to],
    );
    const active = Number(rows[0]!.active);
    await this.bookLiability(tx, batch, -active, "void", nowMs);
    return {
      object: "voucher_void" as const,
      batch: batch.id,
      voided: Number(rows[0]!.total),
      ...this.rangeShown(batch, range),
    };
  }

  private rangeShown(batch: BatchRow, range: { from: number; to: number }) {
    return {
      serial_from: serialText(batch.serial_prefix, range.from),
      serial_to: serialText(batch.serial_prefix, range.to),
    };
  }

  /** Activation raises the liability (the shop owes the value); a void of activated cards lowers it. */
  private async bookLiability(tx: Queryable, batch: BatchRow, cards: number, why: string, nowMs: number) {
    if (cards === 0 || batch.value_amount === null || batch.value_currency === null) return;
    const scope = { merchantId: batch.merchant_id, mode: batch.mode };
    const liability = accountId(liabilityAccount(scope, batch.id, batch.value_currency));
    const receivable = accountId(merchantAccount(scope, "voucher_receivable", batch.value_currency));
    const amount = batch.value_amount * BigInt(Math.abs(cards));
    await applyOrThrow(
      this.ledger,
      tx,
      [
        movement({
          from: cards > 0 ? receivable : liability,
          to: cards > 0 ? liability : receivable,
          amount,
          currency: batch.value_currency,
          code: `voucher_${why}`,
          reference: batch.id,
          nowMs,
        }),
      ],
      nowMs,
    );
  }

  /**
   * Breakage: expected unredeemed value is recognized in proportion to redemptions (rate b: each
   * redeemed unit recognizes b/(1-b) units), and whatever is left when a batch expires.
   */
  async recognizeBreakage(nowMs: number, limit = 50): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(
      `select id from voucher_batches where status = 'approved' and closed_at is null and value_amount is not null
         and (breakage_rate <> '0' or expires_at <= $1) order by id limit $2`,
      [new Date(nowMs), limit],
    );
    for (const { id } of rows) {
      await this.db.transaction(async (tx) => {
        const { rows: locked } = await tx.query<BatchRow>(
          "select * from voucher_batches where id = $1 for update",
          [id],
        );
        const batch = locked[0]!;
        const scope = { merchantId: batch.merchant_id, mode: batch.mode };
        const liability = accountId(liabilityAccount(scope, batch.id, batch.value_currency!));
        const balance = (await this.ledger.balances(tx, [liability])).get(liability);
        const outstanding = balance
          ? balance.creditsPosted - balance.debitsPosted - balance.debitsPending
          : 0n;
        const expired = batch.expires_at !== null && batch.expires_at.getTime() <= nowMs;
        let amount: bigint;
        if (expired) amount = outstanding;
        else {
          const { rows: counted } = await tx.query<{ redeemed: bigint }>(
            "select count(*)::bigint as redeemed from vouchers where batch_id = $1 and status = 'redeemed'",
            [batch.id],
          );
          const redeemedValue = counted[0]!.redeemed * batch.value_amount!;
          const b = parseDecimal(batch.breakage_rate);
          const target = (redeemedValue * b.numerator) / (b.denominator - b.numerator);
          const due = target - batch.breakage_recognized;
          amount = minBigint(due, outstanding);
        }
        if (amount > 0n) {
          await applyOrThrow(
            this.ledger,
            tx,
            [
              movement({
                from: liability,
                to: accountId(merchantAccount(scope, "voucher_breakage", batch.value_currency!)),
                amount,
                currency: batch.value_currency!,
                code: expired ? "voucher_breakage_expiry" : "voucher_breakage",
                reference: batch.id,
                nowMs,
              }),
            ],
            nowMs,
          );
        }
        await tx.query(
          "update voucher_batches set breakage_recognized = breakage_recognized + $2, closed_at = $3 where id = $1",
          [batch.id, (amount > 0n ? amount : 0n).toString(), expired ? new Date(nowMs) : null],
        );
        // An expiry closes the batch; breakage moves liability to revenue: both change the books.
        if (expired || amount > 0n)
          await recordSystem(
            tx,
            "voucher_breakage",
            {
              action: expired ? "voucher_batches.expire" : "voucher_batches.breakage",
              object: batch.id,
              merchantId: batch.merchant_id,
              mode: batch.mode,
              changes: {
                breakage: (amount > 0n ? amount : 0n).toString(),
                currency: batch.value_currency,
                ...(expired ? { closed: true } : {}),
              },
            },
            nowMs,
          );
      });
    }
    return rows.length;
  }

  /** Outstanding liability per batch and currency, from the ledger, with the cards' counts. */
  async liabilityReport(scope: AuthScope) {
    const { rows } = await this.db.query<BatchRow & { activated: bigint; redeemed: bigint; voided: bigint }>(
      `select b.*,
         (select count(*) from vouchers v where v.batch_id = b.id and v.activated_at is not null)::bigint as activated,
         (select count(*) from vouchers v where v.batch_id = b.id and v.status = 'redeemed')::bigint as redeemed,
         (select count(*) from vouchers v where v.batch_id = b.id and v.status = 'voided')::bigint as voided
       from voucher_batches b where b.merchant_id = $1 and b.mode = $2 and b.value_amount is not null order by b.id`,
      [scope.merchantId, scope.mode],
    );
    const ids = rows.map((b) => accountId(liabilityAccount(scope, b.id, b.value_currency!)));
    const balances = await this.ledger.balances(this.db, ids);
    return rows.map((b, i) => {
      const balance = balances.get(ids[i]!);
      const outstanding = balance ? balance.creditsPosted - balance.debitsPosted - balance.debitsPending : 0n;
      return {
        object: "voucher_liability" as const,
        batch: b.id,
        currency: b.value_currency!,
        value: toJsonAmount(b.value_amount!),
        cards_activated: Number(b.activated),
        cards_redeemed: Number(b.redeemed),
        cards_voided: Number(b.voided),
        breakage_recognized: toJsonSum(b.breakage_recognized),
        outstanding: toJsonSum(outstanding),
        closed: b.closed_at !== null,
      };
    });
  }
}
