import { type Simulator, type SimulatorOptions, startSimulator } from "./index.ts";

/**
 * `centime simulator [--http-port 8790] [--smpp-port 2775] [--seed 1] [--instant]
 *  [--settlement-dir DIR] [--settlement-interval-ms 1000] [--error-rate 0.01] [--latency-ms 5-40]`
 * Runs the carrier network simulator until SIGINT/SIGTERM. Returns the running simulator so the
 * core's CLI (or a test) can close it.
 */
export const CLI_USAGE =
  "usage: centime simulator [--http-port N] [--smpp-port N] [--host H] [--seed N] [--instant] [--settlement-dir DIR] [--settlement-interval-ms N] [--error-rate F] [--latency-ms MIN-MAX] [--callback-delay-ms N]";

export function parseSimulatorArgs(argv: readonly string[]): SimulatorOptions {
  const o: SimulatorOptions = { seed: 1, httpPort: 8790, smppPort: 2775, settlement_interval_ms: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${CLI_USAGE}`);
      return v;
    };
    const int = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
      return n;
    };
    switch (flag) {
      case "--http-port":
        o.httpPort = int();
        break;
      case "--smpp-port":
        o.smppPort = int();
        break;
      case "--host":
        o.host = value();
        break;
      case "--seed":
        o.seed = int();
        break;
      case "--instant":
        o.instant = true;
        break;
      case "--settlement-dir":
        o.settlementDir = value();
        break;
      case "--settlement-interval-ms":
        o.settlement_interval_ms = int();
        break;
      case "--callback-delay-ms":
        o.callback_delay_ms = int();
        break;
      case "--error-rate": {
        const f = Number(value());
        if (!(f >= 0 && f <= 1)) throw new Error("--error-rate is a fraction between 0 and 1");
        o.error_rate = f;
        break;
      }
      case "--latency-ms": {
        const [min, max] = value().split("-").map(Number);
        if (!Number.isInteger(min) || !Number.isInteger(max ?? min))
          throw new Error("--latency-ms is MIN-MAX in ms");
        o.latency_ms_min = min ?? 0;
        o.latency_ms_max = max ?? min ?? 0;
        break;
      }
      case "--help":
      case "-h":
        throw new Error(CLI_USAGE);
      default:
        throw new Error(`unknown option ${flag}\n${CLI_USAGE}`);
    }
  }
  return o;
}

export async function runSimulatorCli(
  argv: readonly string[],
  options: { handleSignals?: boolean; print?: (line: string) => void } = {},
): Promise<Simulator> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const sim = await startSimulator(parseSimulatorArgs(argv));
  print(
    `carrier network simulator: http ${sim.httpUrl} · smpp ${sim.smppPort} · settlement files in ${sim.settlementDir}`,
  );
  print(
    "subscribers by last digits: 0001 no funds · 0002 barred · 0003 reply lost · 0004 late result · 0005 half balance · PIN 1234",
  );
  if (options.handleSignals ?? true) {
    const stop = () => void sim.close().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }
  return sim;
}
