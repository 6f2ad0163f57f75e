import { parseArgs } from "node:util";
import { DataDirectoryLockedError } from "./db/embedded.ts";
import { migrate, migrationState } from "./db/migrate.ts";
import { openDatabase } from "./db/open.ts";
import { Merchants } from "./merchants/service.ts";
import { systemClock } from "./platform/clock.ts";
import { configFromEnv } from "./platform/config.ts";
import { type Role, startServer } from "./server.ts";

const HELP = `centime: payments for micropayments and subscriptions of digital goods

Usage: centime <command> [options]

Commands:
  start [--role all|api|worker]   Start the platform (default: API and workers in one process)
  migrate [--status]              Apply pending database migrations (or show their state)
  admin-key --reset               Replace the admin key and print the new one once
  simulator [--help]              Run the carrier network simulator (OneAPI, CAMARA, Parlay X, SMPP, files, card PSP)
  bench [--quick]                 Run the benchmark (see bench/README.md)
  help                            Show this help

Environment:
  PORT (8080), HOST (127.0.0.1)   Where the API listens
  DATABASE_URL                    A postgres:// URL; unset = embedded database in CENTIME_DATA_DIR
  CENTIME_DATA_DIR (./.centime)   Where the embedded database lives
  CENTIME_ADMIN_KEY               The admin key; generated and printed once when unset
  CENTIME_RATE_LIMIT_PER_SECOND (500), CENTIME_RATE_LIMIT_BURST (1000)   Per API key; 0 disables
  CENTIME_CARRIER_NETWORK_URL     The operators' network; unset = an embedded simulator
  CENTIME_CARRIER_SMPP            host:port of the operators' SMSC (with the URL above)
  CENTIME_PUBLIC_URL              This API's address for provider callbacks (default http://HOST:PORT)
  LOG_LEVEL (info)                pino log level
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const config = configFromEnv();
  switch (command) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(HELP);
      return 0;
    case "start": {
      const { values } = parseArgs({ args: rest, options: { role: { type: "string", default: "all" } } });
      const role = values.role as Role;
      if (!["all", "api", "worker"].includes(role)) {
        process.stderr.write(`--role must be all, api or worker\n`);
        return 2;
      }
      const startedMs = Date.now();
      const server = await startServer(config, role);
      const where = config.databaseUrl ? "PostgreSQL" : `the embedded database in ${config.dataDir}`;
      if (server.generatedAdminKey) {
        process.stdout.write(
          `\nYour admin key (shown only this once; keep it safe, or set CENTIME_ADMIN_KEY):\n\n  ${server.generatedAdminKey}\n\n`,
        );
      }
      if (server.url) {
        process.stdout.write(
          `Centime is running on ${server.url} with ${where} (started in ${Date.now() - startedMs} ms).\n` +
            `API documentation: ${server.url}/docs\n`,
        );
      } else {
        process.stdout.write(`Centime worker running with ${where}.\n`);
      }
      const shutdown = async (signal: string) => {
        process.stdout.write(`\n${signal}: stopping…\n`);
        await server.stop();
        process.exit(0);
      };
      process.once("SIGINT", () => void shutdown("SIGINT"));
      process.once("SIGTERM", () => void shutdown("SIGTERM"));
      return -1;
    }
    case "migrate": {
      const { values } = parseArgs({ args: rest, options: { status: { type: "boolean", default: false } } });
      const db = await openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        poolSizeMax: config.dbPoolSize,
        writeConcurrencyMax: config.writeConcurrency,
      });
      try {
        if (values.status) {
          const state = await migrationState(db);
          process.stdout.write(
            `applied: ${state.applied.join(", ") || "none"}\npending: ${state.pending.join(", ") || "none"}\n`,
          );
        } else {
          const applied = await migrate(db);
          process.stdout.write(
            applied.length ? `applied migrations ${applied.join(", ")}\n` : "the database is up to date\n",
          );
        }
      } finally {
        await db.close();
      }
      return 0;
    }
    case "admin-key": {
      const { values } = parseArgs({ args: rest, options: { reset: { type: "boolean", default: false } } });
      if (!values.reset) {
        process.stderr.write("usage: centime admin-key --reset\n");
        return 2;
      }
      const db = await openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        poolSizeMax: config.dbPoolSize,
        writeConcurrencyMax: config.writeConcurrency,
      });
      try {
        await migrate(db);
        const key = await new Merchants(db, systemClock).resetAdminKey();
        process.stdout.write(`New admin key (shown only this once):\n\n  ${key}\n\n`);
      } finally {
        await db.close();
      }
      return 0;
    }
    case "simulator": {
      const { runSimulatorCli } = await import("./simulator/cli.ts");
      await runSimulatorCli(rest);
      return -1;
    }
    case "bench": {
      const { runBench } = await import("../bench/run.ts");
      await runBench(rest);
      return 0;
    }
    default:
      process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof DataDirectoryLockedError) {
      process.stderr.write(`centime: ${error.message}\n`);
      process.exit(3);
    }
    process.stderr.write(
      `centime: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
