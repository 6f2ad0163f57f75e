import type { CarrierNetwork as NetworkAddress } from "../connectors/index.ts";
import type { Queryable } from "../db/db.ts";
import { type Simulator, startSimulator } from "./index.ts";

/**
 * The simulator `npm start` embeds when no carrier network is configured, made to behave like the
 * real world: what its operators hold (subscribers, balances, transactions) is kept in the
 * database (`simulator_state`) and restored at the next start, so a payment in flight across a
 * restart is settled by asking, not failed; and the API process records where it listens, so a
 * `--role worker` process uses that same simulator or refuses to start, saying why.
 */

export const SAVE_INTERVAL_MS = 1_000;
export const HEALTH_TIMEOUT_MS = 2_000;

async function read(db: Queryable, name: string): Promise<string | undefined> {
  const { rows } = await db.query<{ value: string }>("select value from simulator_state where name = $1", [
    name,
  ]);
  return rows[0]?.value;
}

async function write(db: Queryable, name: string, value: string): Promise<void> {
  await db.query(
    `insert into simulator_state (name, value, updated) values ($1, $2, now())
     on conflict (name) do update set value = excluded.value, updated = now()`,
    [name, value],
  );
}

export class WorkerWithoutNetwork extends Error {}

export interface EmbeddedNetwork {
  address: NetworkAddress;
  simulator: Simulator | null;
  stop(): Promise<void>;
}

/** A worker: the API's simulator, found through the database and checked to answer. */
export async function findApiSimulator(db: Queryable): Promise<EmbeddedNetwork> {
  const saved = await read(db, "address");
  const address = saved ? (JSON.parse(saved) as NetworkAddress) : undefined;
  const healthy =
    address !== undefined &&
    (await fetch(`${address.http_url}/_sim/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
      .then((r) => r.ok)
      .catch(() => false));
  if (!address || !healthy)
    throw new WorkerWithoutNetwork(
      "A worker needs the carrier network its API uses: start `centime start --role api` first " +
        "(same database), or run one `centime simulator` and point every process at it with " +
        "CENTIME_CARRIER_NETWORK_URL (and CENTIME_CARRIER_SMPP).",
    );
  return { address, simulator: null, stop: async () => {} };
}

/** The API (or a single process): starts the simulator with its saved state and keeps saving it. */
export async function startEmbeddedSimulator(db: Queryable): Promise<EmbeddedNetwork> {
  const simulator = await startSimulator({
    seed: 1,
    httpPort: 0,
    smppPort: 0,
    settlement_interval_ms: 1_000,
  });
  const state = await read(db, "state");
  if (state) simulator.network.restore(state);
  const address: NetworkAddress = {
    http_url: simulator.httpUrl,
    smpp_host: "127.0.0.1",
    smpp_port: simulator.smppPort,
    settlement_dir: simulator.settlementDir,
  };
  await write(db, "address", JSON.stringify(address));
  let saved = simulator.network.version;
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    const version = simulator.network.version;
    if (version === saved) return saving;
    saving = saving
      .then(() => write(db, "state", simulator.network.snapshot()))
      .then(() => {
        saved = version;
      })
      .catch(() => {});
    return saving;
  };
  const timer = setInterval(() => void save(), SAVE_INTERVAL_MS);
  timer.unref();
  return {
    address,
    simulator,
    async stop() {
      clearInterval(timer);
      await simulator.close();
      await save();
    },
  };
}
