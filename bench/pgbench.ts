import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_URL, databaseUrl, withClient } from "./pg.ts";

/**
 * The baseline: what a naive "one payment, one transaction" design gets from the same server.
 * Each transaction writes what the platform writes per payment, minus the group commit.
 */
export const PGBENCH_SCHEMA = `
create table bench_payments (
  id bigserial primary key,
  merchant_id text not null,
  amount bigint not null,
  currency text not null,
  status text not null,
  payment_method jsonb not null,
  created timestamptz not null default now()
);
create index bench_payments_merchant on bench_payments (merchant_id, id);
create table bench_ledger (
  id bigserial primary key,
  payment_id bigint not null,
  account text not null,
  debit bigint not null,
  credit bigint not null,
  created timestamptz not null default now()
);
create index bench_ledger_account on bench_ledger (account, id);
create table bench_balances (
  account text primary key,
  debits bigint not null default 0,
  credits bigint not null default 0
);
insert into bench_balances (account) select 'merchant_' || g from generate_series(1, 100) g;
create table bench_events (
  id bigserial primary key,
  merchant_id text not null,
  type text not null,
  payment_id bigint not null,
  data jsonb not null,
  created timestamptz not null default now()
);
create index bench_events_merchant on bench_events (merchant_id, id);
`;

/** `merchants` = how many balance rows the transactions spread over (1 = one hot row). */
export function pgbenchScript(merchants: number): string {
  return `\\set m random(1, ${merchants})
\\set amount random(1, 10000)
BEGIN;
INSERT INTO bench_payments (merchant_id, amount, currency, status, payment_method) VALUES ('merchant_' || :m, :amount, 'EUR', 'succeeded', '{"type":"sandbox","scenario":"approve"}') RETURNING id AS pid \\gset
INSERT INTO bench_ledger (payment_id, account, debit, credit) VALUES (:pid, 'customer_' || :m, :amount, 0), (:pid, 'merchant_' || :m, 0, :amount);
UPDATE bench_balances SET credits = credits + :amount WHERE account = 'merchant_' || :m;
INSERT INTO bench_events (merchant_id, type, payment_id, data) VALUES ('merchant_' || :m, 'payment.succeeded', :pid, '{"amount":199}');
COMMIT;
`;
}

export interface PgbenchResult {
  merchants: number;
  clients: number;
  threads: number;
  durationS: number;
  tps: number;
  latencyAvgMs: number | null;
  transactions: number | null;
  failed: number | null;
}

export async function setUpPgbench(database: string): Promise<void> {
  await withClient(databaseUrl(database), (c) => c.query(PGBENCH_SCHEMA));
}

export async function runPgbench(
  database: string,
  options: { clients: number; threads: number; durationS: number; merchants: number },
): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "centime-pgbench-"));
  try {
    const script = join(dir, "payment.sql");
    writeFileSync(script, pgbenchScript(options.merchants));
    const server = new URL(ADMIN_URL);
    const args = [
      "-h",
      server.hostname,
      "-p",
      server.port || "5432",
      "-U",
      decodeURIComponent(server.username || "postgres"),
      "-n",
      "-f",
      script,
      "-c",
      String(options.clients),
      "-j",
      String(options.threads),
      "-T",
      String(options.durationS),
      database,
    ];
    const output = await new Promise<string>((resolveRun, reject) => {
      const child = spawn(process.env.PGBENCH ?? "/usr/bin/pgbench", args, {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let text = "";
      child.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
      });
      child.stderr.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
      });
      child.once("error", reject);
      child.once("exit", (code) => {
        if (code === 0) resolveRun(text);
        else reject(new Error(`pgbench exited with ${code}:\n${text.slice(-2000)}`));
      });
    });
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
    if (!tps) throw new Error(`no TPS in the pgbench output:\n${output}`);
    const latency = /latency average = ([\d.]+) ms/.exec(output);
    const processed = /number of transactions actually processed: (\d+)/.exec(output);
    const failed = /number of failed transactions: (\d+)/.exec(output);
    return {
      merchants: options.merchants,
      clients: options.clients,
      threads: options.threads,
      durationS: options.durationS,
      tps: Number(tps[1]),
      latencyAvgMs: latency ? Number(latency[1]) : null,
      transactions: processed ? Number(processed[1]) : null,
      failed: failed ? Number(failed[1]) : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
