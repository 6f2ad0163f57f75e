import { parseArgs } from "node:util";
import { DataDirectoryLockedError } from "../db/embedded.ts";
import { migrate, migrationState } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { Merchants } from "../merchants/index.ts";
import { systemClock } from "../platform/clock.ts";
import { type Config, configFromEnv, environmentValue } from "../platform/config.ts";
import { installProcessGuards } from "../platform/process-guards.ts";
import { type Role, StartRefused, startServer } from "../server.ts";
import { isClusterProcess, runCluster } from "./cluster.ts";
import { COMMAND_HELP, type CommandName, generalHelp, isCommand } from "./help.ts";
import { checkListenOptions, defaultListenSecret, ListenUsageError, listen } from "./listen.ts";

/** A mistake in how the command was called: its message and the command's usage, no stack trace. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
  }
}

/** Where the CLI writes: the process's streams, or a test's buffers. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: CliOutput = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};
let io: CliOutput = processOutput;

/** Exit codes: 0 done, 1 failed, 2 bad usage, 3 data directory locked, 78 refused configuration. */
const RUNNING = -1;

/** Parses a command's options; a mistake becomes a usage error naming the command. */
function parsed<T>(command: CommandName, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
}

async function openDb(config: Config) {
  return openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSizeMax: config.dbPoolSize,
    writeConcurrencyMax: config.writeConcurrency,
    preparedStatements: config.dbPreparedStatements,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    queryTimeoutMs: config.dbQueryTimeoutMs,
  });
}

async function start(args: string[]): Promise<number> {
  const { values } = parsed("start", () =>
    parseArgs({
      args,
      options: { role: { type: "string", default: "all" }, processes: { type: "string", default: "1" } },
    }),
  );
  const role = values.role as Role;
  if (!["all", "api", "worker"].includes(role))
    throw new UsageError("--role must be all, api or worker", "start");
  const processes = Number(values.processes);
  if (!Number.isInteger(processes) || processes < 1 || processes > 64)
    throw new UsageError("--processes must be a whole number from 1 to 64", "start");
  const config = configFromEnv();
  if (processes > 1 && !config.databaseUrl)
    throw new UsageError(
      "--processes needs PostgreSQL (DATABASE_URL): the embedded database is opened by one process",
      "start",
    );
  installProcessGuards();
  if (processes > 1 && !isClusterProcess()) {
    const primary = await runCluster(config, processes, io.out);
    const stopAll = async (signal: string) => {
      io.out(`\n${signal}: stopping every process…\n`);
      await primary.stop();
      process.exit(0);
    };
    process.once("SIGINT", () => void stopAll("SIGINT"));
    process.once("SIGTERM", () => void stopAll("SIGTERM"));
    return RUNNING;
  }
  const startedMs = Date.now();
  const server = await startServer(config, role, undefined, {
    sharedNetwork: isClusterProcess() && !config.carrierNetworkUrl,
  });
  const where = config.databaseUrl ? "PostgreSQL" : `the embedded database in ${config.dataDir}`;
  if (server.generatedAdminKey) {
    io.out(
      `\nYour admin key (shown only this once; keep it safe, or set CENTIME_ADMIN_KEY):\n\n  ${server.generatedAdminKey}\n\n`,
    );
  }
  if (server.url) {
    io.out(
      `Centime is running on ${server.url} with ${where} (started in ${Date.now() - startedMs} ms).\n` +
        `API documentation: ${server.url}/docs\n`,
    );
  }
  if (server.adminUrl) {
    io.out(`Back office over mutual TLS (client certificates): ${server.adminUrl}/admin\n`);
  }
  if (server.workerUrl) {
    io.out(`Centime worker running with ${where}; /health, /ready and /metrics on ${server.workerUrl}.\n`);
  }
  io.out(`${server.liveSummary}\n`);
  const shutdown = async (signal: string) => {
    io.out(`\n${signal}: stopping…\n`);
    await server.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  return RUNNING;
}

async function migrateCommand(args: string[]): Promise<number> {
  const { values } = parsed("migrate", () =>
    parseArgs({ args, options: { status: { type: "boolean", default: false } } }),
  );
  const db = await openDb(configFromEnv());
  try {
    if (values.status) {
      const state = await migrationState(db);
      io.out(
        `applied: ${state.applied.join(", ") || "none"}\npending: ${state.pending.join(", ") || "none"}\n`,
      );
    } else {
      const applied = await migrate(db);
      io.out(applied.length ? `applied migrations ${applied.join(", ")}\n` : "the database is up to date\n");
    }
  } finally {
    await db.close();
  }
  return 0;
}

async function adminKey(args: string[]): Promise<number> {
  const { values } = parsed("admin-key", () =>
    parseArgs({ args, options: { reset: { type: "boolean", default: false } } }),
  );
  if (!values.reset) throw new UsageError("admin-key needs --reset", "admin-key");
  const config = configFromEnv();
  const db = await openDb(config);
  try {
    await migrate(db);
    const key = await new Merchants(db, systemClock).resetAdminKey();
    io.out(`New admin key (shown only this once):\n\n  ${key}\n\n`);
  } finally {
    await db.close();
  }
  return 0;
}

async function auditCommand(args: string[]): Promise<number> {
  const action = args[0];
  if (action !== "verify" && action !== "checkpoint")
    throw new UsageError("audit needs verify or checkpoint", "audit");
  const { exportCheckpoint, verifyAuditChain } = await import("../audit/index.ts");
  const db = await openDb(configFromEnv());
  try {
    await migrate(db);
    if (action === "checkpoint") {
      io.out(`${JSON.stringify(await exportCheckpoint(db, systemClock.nowMs()), null, 2)}\n`);
      return 0;
    }
    const result = await verifyAuditChain(db);
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    return result.valid ? 0 : 1;
  } finally {
    await db.close();
  }
}

async function certsCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== "init" && action !== "issue" && action !== "revoke" && action !== "list")
    throw new UsageError("certs needs init, issue, revoke or list", "certs");
  const { values, positionals } = parsed("certs", () =>
    parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        host: { type: "string" },
        email: { type: "string" },
        merchant: { type: "string" },
        days: { type: "string", default: "365" },
        out: { type: "string", default: "." },
      },
    }),
  );
  const certs = await import("../certs/index.ts");
  const config = configFromEnv();
  const nowMs = systemClock.nowMs();
  if (action === "init") {
    const hosts = (values.host ?? ["localhost", "127.0.0.1", config.host].join(","))
      .split(",")
      .map((h) => h.trim())
      .filter((h, i, all) => h && all.indexOf(h) === i);
    if (certs.authorityExists(config.adminCaDir))
      throw new UsageError(`a certificate authority already exists in ${config.adminCaDir}`, "certs");
    const made = await certs.initAuthority(config.adminCaDir, { hosts, nowMs });
    io.out(
      `Created the back office's certificate authority in ${config.adminCaDir}\n` +
        `  CA certificate:      ${certs.AUTHORITY_FILES.caCert} (sha256 ${made.caFingerprint})\n` +
        `  CA private key:      ${certs.AUTHORITY_FILES.caKey} (mode 600: keep it offline if you can)\n` +
        `  Listener certificate: ${certs.AUTHORITY_FILES.serverCert} for ${hosts.join(", ")}\n` +
        "Next: centime certs issue --email <staff e-mail>, then start with CENTIME_ADMIN_TLS_PORT set.\n",
    );
    return 0;
  }
  const db = await openDb(config);
  try {
    await migrate(db);
    if (action === "list") {
      for (const c of await certs.listCertificates(db)) {
        const state = c.revoked_at ? "revoked" : c.not_after.getTime() <= nowMs ? "expired" : "valid";
        io.out(
          `${c.serial}  ${state.padEnd(7)}  ${c.not_after.toISOString().slice(0, 10)}  ${c.email}  ${c.fingerprint}\n`,
        );
      }
      return 0;
    }
    if (action === "revoke") {
      const which = positionals[0];
      if (!which) throw new UsageError("certs revoke needs a serial or a fingerprint", "certs");
      const revoked = await certs.revokeCertificate(db, which, nowMs);
      if (!revoked) {
        io.err(`centime certs: no valid certificate has serial or fingerprint ${which}\n`);
        return 1;
      }
      io.out(`Revoked ${revoked.serial}: it no longer signs anyone in (from the next request).\n`);
      return 0;
    }
    const email = values.email;
    if (!email) throw new UsageError("certs issue needs --email", "certs");
    const days = Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 825)
      throw new UsageError("--days must be a whole number from 1 to 825", "certs");
    const staff = await certs.staffByEmail(db, email, values.merchant ?? null);
    if (!staff) {
      io.err(`centime certs: no staff member ${email}${values.merchant ? ` in ${values.merchant}` : ""}\n`);
      return 1;
    }
    const authority = await certs.loadAuthority(config.adminCaDir);
    const issued = await certs.issue(authority, { commonName: staff.email, days, nowMs, usage: "client" });
    const { writeFileSync, chmodSync, mkdirSync } = await import("node:fs");
    const { join } = await import("node:path");
    mkdirSync(values.out!, { recursive: true });
    const base = join(
      values.out!,
      `${staff.email.replace(/[^A-Za-z0-9._-]/g, "_")}-${issued.serial.slice(0, 8)}`,
    );
    writeFileSync(`${base}.pem`, issued.certPem);
    writeFileSync(`${base}-key.pem`, issued.keyPem, { mode: 0o600 });
    chmodSync(`${base}-key.pem`, 0o600);
    await certs.registerCertificate(
      db,
      {
        fingerprint: issued.fingerprint,
        staffId: staff.id,
        serial: issued.serial,
        notAfter: issued.notAfter,
      },
      nowMs,
    );
    io.out(
      `Issued a client certificate for ${staff.email} (${staff.id}), valid until ${issued.notAfter.toISOString()}\n` +
        `  serial       ${issued.serial}\n  fingerprint  ${issued.fingerprint}\n` +
        `  certificate  ${base}.pem\n  private key  ${base}-key.pem (mode 600; hand it over privately)\n` +
        `For a browser: openssl pkcs12 -export -in ${base}.pem -inkey ${base}-key.pem -out ${base}.p12\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

async function listenCommand(args: string[]): Promise<number> {
  const { values } = parsed("listen", () =>
    parseArgs({
      args,
      options: {
        "forward-to": { type: "string" },
        "api-key": { type: "string" },
        "api-url": { type: "string" },
        events: { type: "string" },
        secret: { type: "string" },
      },
    }),
  );
  const config = configFromEnv();
  const apiKey = values["api-key"] ?? environmentValue("CENTIME_API_KEY");
  try {
    checkListenOptions(apiKey, values["forward-to"]);
  } catch (error) {
    if (error instanceof ListenUsageError) throw new UsageError(error.message, "listen");
    throw error;
  }
  const secret = values.secret ?? defaultListenSecret();
  const apiUrl = values["api-url"] ?? config.publicUrl ?? `http://${config.host}:${config.port}`;
  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort());
  process.once("SIGTERM", () => abort.abort());
  io.out(
    `Forwarding test-mode events from ${apiUrl} to ${values["forward-to"]}\n` +
      `Signing secret (verify deliveries with it): ${secret}\nCtrl-C stops.\n`,
  );
  await listen({
    apiUrl,
    apiKey: apiKey!,
    forwardTo: values["forward-to"]!,
    events: new Set(
      (values.events ?? "")
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e && e !== "*"),
    ),
    secret,
    pollMs: 500,
    print: (line) => io.out(`${line}\n`),
    signal: abort.signal,
  });
  return 0;
}

/** The simulator's own command line, handed in by the entry point (src/main.ts). */
export type SimulatorCli = (args: string[]) => Promise<unknown>;
let simulatorCli: SimulatorCli | undefined;

async function simulator(args: string[]): Promise<number> {
  if (!simulatorCli) throw new Error("the simulator command is not wired");
  try {
    await simulatorCli(args);
  } catch (error) {
    // The simulator's own argument errors carry its usage line.
    const message = error instanceof Error ? error.message : String(error);
    if (/usage|needs|unknown option|is MIN-MAX|fraction/.test(message))
      throw new UsageError(message, "simulator");
    throw error;
  }
  return RUNNING;
}

async function bench(args: string[]): Promise<number> {
  const { runBench } = await import("../../bench/run.ts");
  try {
    await runBench(args);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    if (code?.startsWith("ERR_PARSE_ARGS") || message.startsWith("--"))
      throw new UsageError(message, "bench");
    throw error;
  }
  return 0;
}

const COMMANDS: Record<Exclude<CommandName, "help">, (args: string[]) => Promise<number>> = {
  start,
  migrate: migrateCommand,
  "admin-key": adminKey,
  audit: auditCommand,
  certs: certsCommand,
  listen: listenCommand,
  simulator,
  bench,
};

/** Runs one command line; returns the exit code, or -1 when the command keeps running. */
export async function runCli(
  argv: string[],
  output: CliOutput = processOutput,
  wiring: { simulator?: SimulatorCli } = {},
): Promise<number> {
  io = output;
  simulatorCli = wiring.simulator;
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h") {
    io.out(generalHelp());
    return 0;
  }
  if (command === "help") {
    const about = rest[0] === "--help" || rest[0] === "-h" ? "help" : rest[0];
    io.out(about && isCommand(about) ? `${COMMAND_HELP[about]}\n` : generalHelp());
    return 0;
  }
  if (!isCommand(command)) {
    io.err(`centime: unknown command '${command}'\n\n${generalHelp()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(`${COMMAND_HELP[command]}\n`);
    return 0;
  }
  if (command === "help") return 0;
  try {
    return await COMMANDS[command](rest);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`centime ${command}: ${error.message}\n\n${error.command ? COMMAND_HELP[error.command] : ""}\n`);
      return 2;
    }
    if (error instanceof DataDirectoryLockedError) {
      io.err(`centime: ${error.message}\n`);
      return 3;
    }
    if (error instanceof StartRefused) {
      io.err(`centime: ${error.message}\n`);
      return 78;
    }
    throw error;
  }
}
