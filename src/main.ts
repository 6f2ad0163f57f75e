// First: refuse an old Node.js with a clear message before any dependency loads.
import "./cli/node-version.ts";
import { runCli } from "./cli/index.ts";

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(
      `centime: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
