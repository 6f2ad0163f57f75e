import type { Db, Queryable } from "../db/db.ts";
import { checkListParams, type ListParams, listPage, type Page } from "../db/pages.ts";
import type { Clock } from "../platform/clock.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { isCurrency, minorDigits } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { type Conversion, convert } from "./convert.ts";
import { isDecimal, isPositive, parseDecimal } from "./decimal.ts";

/** Inner currencies are 4 to 8 capital letters, so they never clash with ISO 4217 codes. */
export const INNER_CURRENCY_PATTERN = /^[A-Z]{4,8}$/;

export interface InnerCurrencyRow {
  merchant_id: string;
  mode: string;
  code: string;
  name: string;
  minor_digits: number;
  created: Date;
}

export interface ExchangeRateRow {
  id: string;
  merchant_id: string;
  mode: string;
  from_currency: string;
  to_currency: string;
  rate: string;
  source: string | null;
  valid_from: Date;
  valid_until: Date | null;
  created: Date;
}

export function presentCurrency(c: InnerCurrencyRow) {
  return {
    id: c.code,
    object: "currency" as const,
    code: c.code,
    name: c.name,
    minor_digits: c.minor_digits,
    created: iso(c.created.getTime()),
  };
}

export function presentRate(r: ExchangeRateRow) {
  return {
    id: r.id,
    object: "exchange_rate" as const,
    from: r.from_currency,
    to: r.to_currency,
    rate: r.rate,
    source: r.source,
    valid_from: iso(r.valid_from.getTime()),
    valid_until: r.valid_until ? iso(r.valid_until.getTime()) : null,
    created: iso(r.created.getTime()),
  };
}

/** Inner currencies and exchange rates of each merchant, and conversions between them. */
export class Currencies {
  /** Inner currencies never change once created: their digits are remembered. */
  private readonly digitsCache = new Map<string, number>();

  constructor(
    readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async createCurrency(
    q: Queryable,
    scope: AuthScope,
    input: { code: string; name: string; minor_digits: number },
  ) {
    if (!INNER_CURRENCY_PATTERN.test(input.code))
      throw new ApiError("parameter_invalid", "code", "An inner currency's code is 4 to 8 capital letters.");
    const row: InnerCurrencyRow = {
      merchant_id: scope.merchantId,
      mode: scope.mode,
      code: input.code,
      name: input.name,
      minor_digits: input.minor_digits,
      created: new Date(this.clock.nowMs()),
    };
    const { rowCount } = await q.query(
      `insert into inner_currencies (merchant_id, mode, code, name, minor_digits, created)
       values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
      [row.merchant_id, row.mode, row.code, row.name, row.minor_digits, row.created],
    );
    if (rowCount === 0)
      throw new ApiError("resource_already_exists", "code", `The currency ${input.code} exists already.`);
    return presentCurrency(row);
  }

  /**
   * Newest first (by creation, then code). A currency's id is its code, which does not sort by
   * time, so a cursor is a code and the page starts at that currency's place (created, code).
   */
  async listCurrencies(
    scope: AuthScope,
    list: ListParams,
  ): Promise<Page<ReturnType<typeof presentCurrency>>> {
    const limit = checkListParams(list);
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    const name = list.starting_after ? "starting_after" : "ending_before";
    const cursor = list[name];
    if (cursor) {
      const at = await this.currencyRow(scope, cursor, name);
      params.push(at.created, at.code);
      where.push(`(created, code) ${name === "starting_after" ? "<" : ">"} ($3, $4)`);
    }
    const order = cursor && name === "ending_before" ? "asc" : "desc";
    params.push(limit + 1);
    const { rows } = await this.db.query<InnerCurrencyRow>(
      `select * from inner_currencies where ${where.join(" and ")}
       order by created ${order}, code ${order} limit $${params.length}`,
      params,
    );
    const page = rows.slice(0, limit);
    if (order === "asc") page.reverse();
    return { rows: page.map(presentCurrency), hasMore: rows.length > limit };
  }

  /** The currency a cursor names; a 400 naming the cursor when it is none of the merchant's. */
  private async currencyRow(scope: AuthScope, code: string, param: string): Promise<InnerCurrencyRow> {
    const { rows } = await this.db.query<InnerCurrencyRow>(
      "select * from inner_currencies where merchant_id = $1 and mode = $2 and code = $3",
      [scope.merchantId, scope.mode, code],
    );
    if (!rows[0])
      throw new ApiError("parameter_invalid", param, `${param} must be the code of one of your currencies.`);
    return rows[0];
  }

  /** Minor digits of an ISO currency or of one of the merchant's inner currencies; null if neither. */
  async digits(q: Queryable, scope: AuthScope, code: string): Promise<number | null> {
    if (isCurrency(code)) return minorDigits(code);
    if (!INNER_CURRENCY_PATTERN.test(code)) return null;
    const key = `${scope.merchantId}\u0000${scope.mode}\u0000${code}`;
    const known = this.digitsCache.get(key);
    if (known !== undefined) return known;
    const { rows } = await q.query<{ minor_digits: number }>(
      "select minor_digits from inner_currencies where merchant_id = $1 and mode = $2 and code = $3",
      [scope.merchantId, scope.mode, code],
    );
    if (!rows[0]) return null;
    this.digitsCache.set(key, rows[0].minor_digits);
    return rows[0].minor_digits;
  }

  async isInner(q: Queryable, scope: AuthScope, code: string): Promise<boolean> {
    return INNER_CURRENCY_PATTERN.test(code) && (await this.digits(q, scope, code)) !== null;
  }

  /** Digits of a currency the request names; a clear 400 naming the field when it is unknown. */
  async requireDigits(q: Queryable, scope: AuthScope, code: string, param: string): Promise<number> {
    const digits = await this.digits(q, scope, code);
    if (digits === null)
      throw new ApiError(
        "currency_invalid",
        param,
        `${code} is neither an ISO 4217 currency nor one of your inner currencies.`,
      );
    return digits;
  }

  async createRate(
    q: Queryable,
    scope: AuthScope,
    input: {
      from: string;
      to: string;
      rate: string;
      source?: string;
      valid_from?: string;
      valid_until?: string;
    },
  ) {
    await this.requireDigits(q, scope, input.from, "from");
    await this.requireDigits(q, scope, input.to, "to");
    if (input.from === input.to)
      throw new ApiError("parameter_invalid", "to", "A rate converts between two different currencies.");
    if (!isDecimal(input.rate) || !isPositive(parseDecimal(input.rate)))
      throw new ApiError(
        "parameter_invalid",
        "rate",
        'The rate is a positive decimal string such as "120" or "0.0125" (at most 12 digits each side).',
      );
    const nowMs = this.clock.nowMs();
    const validFrom = input.valid_from ? Date.parse(input.valid_from) : nowMs;
    const validUntil = input.valid_until ? Date.parse(input.valid_until) : null;
    if (validUntil !== null && validUntil <= validFrom)
      throw new ApiError("parameter_invalid", "valid_until", "valid_until is after valid_from.");
    const row: ExchangeRateRow = {
      id: newId("xr", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      from_currency: input.from,
      to_currency: input.to,
      rate: input.rate,
      source: input.source ?? null,
      valid_from: new Date(validFrom),
      valid_until: validUntil === null ? null : new Date(validUntil),
      created: new Date(nowMs),
    };
    await q.query(
      `insert into exchange_rates (id, merchant_id, mode, from_currency, to_currency, rate, source, valid_from, valid_until, created)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        row.id,
        row.merchant_id,
        row.mode,
        row.from_currency,
        row.to_currency,
        row.rate,
        row.source,
        row.valid_from,
        row.valid_until,
        row.created,
      ],
    );
    return presentRate(row);
  }

  /** Newest first, by id. */
  async listRates(scope: AuthScope, list: ListParams): Promise<Page<ReturnType<typeof presentRate>>> {
    const page = await listPage<ExchangeRateRow>(
      this.db,
      "exchange_rates",
      ["merchant_id = $1", "mode = $2"],
      [scope.merchantId, scope.mode],
      list,
    );
    return { rows: page.rows.map(presentRate), hasMore: page.hasMore };
  }

  /** The newest rate valid at `atMs`, or null. */
  async currentRate(
    q: Queryable,
    scope: AuthScope,
    from: string,
    to: string,
    atMs: number,
  ): Promise<ExchangeRateRow | null> {
    const { rows } = await q.query<ExchangeRateRow>(
      `select * from exchange_rates
       where merchant_id = $1 and mode = $2 and from_currency = $3 and to_currency = $4
         and valid_from <= $5 and (valid_until is null or valid_until > $5)
       order by valid_from desc, id desc limit 1`,
      [scope.merchantId, scope.mode, from, to, new Date(atMs)],
    );
    return rows[0] ?? null;
  }

  /** Converts at the current rate; a 400 naming `param` when there is none. */
  async convertNow(
    q: Queryable,
    scope: AuthScope,
    amount: bigint,
    from: string,
    to: string,
    param: string,
    atMs: number,
  ): Promise<{ conversion: Conversion; rateId: string }> {
    const rate = await this.currentRate(q, scope, from, to, atMs);
    if (!rate)
      throw new ApiError(
        "exchange_rate_missing",
        param,
        `No exchange rate from ${from} to ${to} is valid now.`,
      );
    const conversion = convert(
      amount,
      rate.rate,
      await this.requireDigits(q, scope, from, param),
      await this.requireDigits(q, scope, to, param),
    );
    return { conversion, rateId: rate.id };
  }
}
