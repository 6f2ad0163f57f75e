import { getCountries } from "libphonenumber-js";
import type { Db, Queryable } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import { listPage } from "../db/pages.ts";
import type { Clock } from "../platform/clock.ts";
import { iso, isTimeZone } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import { normalizeAddress, type PostalAddress } from "./address.ts";

export interface CustomerInput {
  external_id?: string;
  email?: string;
  msisdn?: string;
  country?: string;
  time_zone?: string;
  locale?: string;
  metadata?: Record<string, string>;
  address?: PostalAddress;
  test_clock?: string;
  /** Affiliate commissions: the customer who brought this one (set once, at creation: no cycles). */
  referred_by?: string;
}

/** `POST /v1/customers/:id`: a field given replaces it, null clears it; metadata merges ("" removes a key). */
export interface CustomerUpdate {
  external_id?: string | null;
  email?: string | null;
  msisdn?: string | null;
  country?: string | null;
  time_zone?: string | null;
  locale?: string | null;
  metadata?: Record<string, string>;
  address?: PostalAddress | null;
}

interface CustomerRow {
  id: string;
  merchant_id: string;
  mode: string;
  external_id: string | null;
  email: string | null;
  msisdn: string | null;
  country: string | null;
  time_zone: string | null;
  locale: string | null;
  metadata: Record<string, string>;
  address?: PostalAddress | null;
  test_clock_id?: string | null;
  referred_by?: string | null;
  created: Date;
}

export function presentCustomer(c: CustomerRow) {
  return {
    id: c.id,
    object: "customer" as const,
    created: iso(c.created.getTime()),
    livemode: c.mode === "live",
    external_id: c.external_id,
    email: c.email,
    msisdn: c.msisdn,
    country: c.country,
    time_zone: c.time_zone,
    locale: c.locale,
    metadata: c.metadata,
    address: c.address ?? null,
    test_clock: c.test_clock_id ?? null,
    referred_by: c.referred_by ?? null,
  };
}

const COUNTRIES = new Set<string>(getCountries());

/** Checks what a schema cannot: real time zones and region codes. */
function validate(input: Omit<CustomerInput, "address">): void {
  if (input.time_zone !== undefined && !isTimeZone(input.time_zone)) {
    throw new ApiError(
      "parameter_invalid",
      "time_zone",
      "time_zone must be an IANA time zone name such as Europe/Paris.",
    );
  }
  if (input.country !== undefined) {
    if (!COUNTRIES.has(input.country))
      throw new ApiError(
        "parameter_invalid",
        "country",
        "country must be an ISO 3166-1 alpha-2 code such as FR.",
      );
  }
  if (input.locale !== undefined) {
    try {
      new Intl.Locale(input.locale);
    } catch {
      throw new ApiError(
        "parameter_invalid",
        "locale",
        "locale must be a BCP 47 language tag such as fr-FR.",
      );
    }
  }
}

export class Customers {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(q: Queryable, scope: AuthScope, input: CustomerInput) {
    validate(input);
    const address = input.address ? normalizeAddress(input.address) : null;
    if (input.test_clock !== undefined) {
      // Test clocks (billing) exist in test mode only; the customer's subscriptions run on its time.
      const { rows } = await q.query(
        "select 1 from test_clocks where id = $1 and merchant_id = $2 and mode = $3",
        [input.test_clock, scope.merchantId, scope.mode],
      );
      if (rows.length === 0)
        throw new ApiError("resource_missing", "test_clock", `No such test clock: '${input.test_clock}'.`);
    }
    if (input.referred_by !== undefined) {
      // The referrer exists before the new customer does, so a chain of referrals never loops.
      const { rows } = await q.query(
        "select 1 from customers where id = $1 and merchant_id = $2 and mode = $3",
        [input.referred_by, scope.merchantId, scope.mode],
      );
      if (rows.length === 0)
        throw new ApiError("resource_missing", "referred_by", `No such customer: '${input.referred_by}'.`);
    }
    const nowMs = this.clock.nowMs();
    const row: CustomerRow = {
      id: newId("cus", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      external_id: input.external_id ?? null,
      email: input.email ?? null,
      msisdn: input.msisdn ?? null,
      country: input.country ?? null,
      time_zone: input.time_zone ?? null,
      locale: input.locale ?? null,
      metadata: input.metadata ?? {},
      address,
      test_clock_id: input.test_clock ?? null,
      referred_by: input.referred_by ?? null,
      created: new Date(nowMs),
    };
    await q.query(
      `insert into customers (id, merchant_id, mode, external_id, email, msisdn, country, time_zone, locale, metadata, created, test_clock_id, referred_by, address)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        row.id,
        row.merchant_id,
        row.mode,
        row.external_id,
        row.email,
        row.msisdn,
        row.country,
        row.time_zone,
        row.locale,
        JSON.stringify(row.metadata),
        row.created,
        row.test_clock_id,
        row.referred_by,
        address === null ? null : JSON.stringify(address),
      ],
    );
    return presentCustomer(row);
  }

  async update(q: Queryable, scope: AuthScope, id: string, input: CustomerUpdate) {
    const defined = <T>(value: T | null | undefined) => (value === null ? undefined : value);
    validate({
      ...(defined(input.country) !== undefined ? { country: input.country! } : {}),
      ...(defined(input.time_zone) !== undefined ? { time_zone: input.time_zone! } : {}),
      ...(defined(input.locale) !== undefined ? { locale: input.locale! } : {}),
    });
    const address = input.address ? normalizeAddress(input.address) : input.address;
    const { rows } = await q.query<CustomerRow>(
      "select * from customers where id = $1 and merchant_id = $2 and mode = $3 for update",
      [id, scope.merchantId, scope.mode],
    );
    const current = rows[0];
    if (!current) throw new ApiError("resource_missing", "id", `No such customer: '${id}'.`);
    const metadata = { ...current.metadata };
    for (const [key, value] of Object.entries(input.metadata ?? {})) {
      if (value === "") delete metadata[key];
      else metadata[key] = value;
    }
    const next: CustomerRow = {
      ...current,
      ...(input.external_id !== undefined ? { external_id: input.external_id } : {}),
      ...(input.email !== undefined ? { email: input.email } : {}),
      ...(input.msisdn !== undefined ? { msisdn: input.msisdn } : {}),
      ...(input.country !== undefined ? { country: input.country } : {}),
      ...(input.time_zone !== undefined ? { time_zone: input.time_zone } : {}),
      ...(input.locale !== undefined ? { locale: input.locale } : {}),
      ...(address !== undefined ? { address } : {}),
      metadata,
    };
    await q.query(
      `update customers set external_id = $2, email = $3, msisdn = $4, country = $5, time_zone = $6,
         locale = $7, metadata = $8, address = $9 where id = $1`,
      [
        id,
        next.external_id,
        next.email,
        next.msisdn,
        next.country,
        next.time_zone,
        next.locale,
        JSON.stringify(next.metadata),
        next.address ? JSON.stringify(next.address) : null,
      ],
    );
    return presentCustomer(next);
  }

  async get(scope: AuthScope, id: string) {
    const { rows } = await this.db.query<CustomerRow>(
      "select * from customers where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such customer: '${id}'.`);
    return presentCustomer(rows[0]);
  }

  async list(scope: AuthScope, filters: { external_id?: string }, list: ListParams) {
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    if (filters.external_id) {
      params.push(filters.external_id);
      where.push(`external_id = $${params.length}`);
    }
    const page = await listPage<CustomerRow>(this.db, "customers", where, params, list);
    return { rows: page.rows.map(presentCustomer), hasMore: page.hasMore };
  }
}
