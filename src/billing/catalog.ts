import { getCountries } from "libphonenumber-js";
import type { Db, Queryable } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import { listPage } from "../db/pages.ts";
import { rowsToJson } from "../db/rows.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import { type PriceRow, type ProductRow, presentPrice, presentProduct } from "./model.ts";
import { insertInto } from "./sql.ts";
import { periodProblem } from "./time.ts";

/** Products (a variant is a product with a parent) and their prices per country and currency. */

export const TRIAL_DAYS_MAX = 730;
const COUNTRIES = new Set<string>(getCountries());

export interface ProductInput {
  name: string;
  description?: string;
  parent?: string;
  active?: boolean;
  metadata?: Record<string, string>;
}

export interface PriceInput {
  product: string;
  amount: number;
  currency: string;
  country?: string;
  recurring?: { period: string };
  trial_days?: number;
  active?: boolean;
  metadata?: Record<string, string>;
  /** Memberships: the access a purchase of this price grants. */
  grants?: { entitlement: string; period: string };
}

export class Catalog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  private async product(q: Queryable, scope: AuthScope, id: string, param: string): Promise<ProductRow> {
    const { rows } = await q.query<ProductRow>(
      "select * from products where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", param, `No such product: '${id}'.`);
    return rows[0];
  }

  /** Writes take the caller's transaction (`q`), where the idempotency key is claimed. */
  async createProduct(q: Queryable, scope: AuthScope, input: ProductInput) {
    if (input.parent !== undefined) {
      const parent = await this.product(q, scope, input.parent, "parent");
      // One level of variants keeps the catalog a list of products and their options.
      if (parent.parent_id !== null)
        throw new ApiError(
          "parameter_invalid",
          "parent",
          "A variant cannot be the parent of another variant.",
        );
    }
    const nowMs = this.clock.nowMs();
    const row: ProductRow = {
      id: newId("prod", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      name: input.name,
      description: input.description ?? null,
      parent_id: input.parent ?? null,
      active: input.active ?? true,
      metadata: input.metadata ?? {},
      created: new Date(nowMs),
      updated: new Date(nowMs),
    };
    await insertInto(q, "products", [row]);
    return presentProduct(row);
  }

  async updateProduct(
    q: Queryable,
    scope: AuthScope,
    id: string,
    input: Partial<Pick<ProductInput, "name" | "description" | "active" | "metadata">>,
  ) {
    const before = await this.product(q, scope, id, "id");
    const row: ProductRow = {
      ...before,
      name: input.name ?? before.name,
      description: input.description ?? before.description,
      active: input.active ?? before.active,
      metadata: input.metadata ? { ...before.metadata, ...input.metadata } : before.metadata,
      updated: new Date(this.clock.nowMs()),
    };
    await q.query(
      `update products p set name = v.name, description = v.description, active = v.active, metadata = v.metadata,
         updated = v.updated from json_populate_recordset(null::products, $1::json) v where p.id = v.id`,
      [rowsToJson([row])],
    );
    return presentProduct(row);
  }

  async getProduct(scope: AuthScope, id: string) {
    return presentProduct(await this.product(this.db, scope, id, "id"));
  }

  async listProducts(scope: AuthScope, filters: { parent?: string; active?: boolean }, list: ListParams) {
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    if (filters.parent !== undefined) {
      params.push(filters.parent);
      where.push(`parent_id = $${params.length}`);
    }
    if (filters.active !== undefined) {
      params.push(filters.active);
      where.push(`active = $${params.length}`);
    }
    const page = await listPage<ProductRow>(this.db, "products", where, params, list);
    return { rows: page.rows.map(presentProduct), hasMore: page.hasMore };
  }

  async createPrice(q: Queryable, scope: AuthScope, input: PriceInput) {
    if (input.country !== undefined && !COUNTRIES.has(input.country))
      throw new ApiError(
        "parameter_invalid",
        "country",
        "country must be an ISO 3166-1 alpha-2 code such as FR.",
      );
    if (input.recurring) {
      const problem = periodProblem(input.recurring.period);
      if (problem)
        throw new ApiError("parameter_invalid", "recurring.period", `recurring.period ${problem}.`);
    }
    if (input.trial_days !== undefined && input.trial_days > 0 && !input.recurring)
      throw new ApiError("parameter_invalid", "trial_days", "Only a recurring price can have a free trial.");
    if (input.grants) {
      const problem = periodProblem(input.grants.period);
      if (problem) throw new ApiError("parameter_invalid", "grants.period", `grants.period ${problem}.`);
    }
    if (/^[A-Z]{4,8}$/.test(input.currency)) {
      // An inner currency (wallets): it must be one of the merchant's.
      const { rowCount } = await q.query(
        "select 1 from inner_currencies where merchant_id = $1 and mode = $2 and code = $3",
        [scope.merchantId, scope.mode, input.currency],
      );
      if (rowCount === 0)
        throw new ApiError(
          "currency_invalid",
          "currency",
          `${input.currency} is not one of your currencies.`,
        );
    }
    const product = await this.product(q, scope, input.product, "product");
    if (!product.active) throw new ApiError("parameter_invalid", "product", "This product is archived.");
    const nowMs = this.clock.nowMs();
    const row: PriceRow = {
      id: newId("price", nowMs),
      merchant_id: scope.merchantId,
      mode: scope.mode,
      product_id: product.id,
      amount: BigInt(input.amount),
      currency: input.currency,
      country: input.country ?? null,
      recurring_period: input.recurring?.period ?? null,
      trial_days: input.trial_days ?? 0,
      active: input.active ?? true,
      metadata: input.metadata ?? {},
      created: new Date(nowMs),
      grants: input.grants ?? null,
    };
    await insertInto(q, "prices", [row]);
    return presentPrice(row);
  }

  async updatePrice(
    q: Queryable,
    scope: AuthScope,
    id: string,
    input: { active?: boolean; metadata?: Record<string, string> },
  ) {
    const { rows } = await q.query<PriceRow>(
      `update prices set active = coalesce($4, active), metadata = metadata || $5::jsonb
       where id = $1 and merchant_id = $2 and mode = $3 returning *`,
      [id, scope.merchantId, scope.mode, input.active ?? null, JSON.stringify(input.metadata ?? {})],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such price: '${id}'.`);
    return presentPrice(rows[0]);
  }

  async getPrice(scope: AuthScope, id: string) {
    const { rows } = await this.db.query<PriceRow>(
      "select * from prices where id = $1 and merchant_id = $2 and mode = $3",
      [id, scope.merchantId, scope.mode],
    );
    if (!rows[0]) throw new ApiError("resource_missing", "id", `No such price: '${id}'.`);
    return presentPrice(rows[0]);
  }

  async listPrices(
    scope: AuthScope,
    filters: { product?: string; currency?: string; country?: string; active?: boolean },
    list: ListParams,
  ) {
    const where = ["merchant_id = $1", "mode = $2"];
    const params: unknown[] = [scope.merchantId, scope.mode];
    const add = (column: string, value: unknown) => {
      if (value === undefined) return;
      params.push(value);
      where.push(`${column} = $${params.length}`);
    };
    add("product_id", filters.product);
    add("currency", filters.currency);
    add("country", filters.country);
    add("active", filters.active);
    const page = await listPage<PriceRow>(this.db, "prices", where, params, list);
    return { rows: page.rows.map(presentPrice), hasMore: page.hasMore };
  }
}
