import { environmentHelp } from "./environment.ts";

/** What each command says about itself with --help. */
export const COMMAND_HELP = {
  start: `Usage: centime start [--role all|api|worker] [--processes N]

Starts the platform. --role all (the default) runs the API and the background workers in one
process; api serves only the HTTP API; worker runs reconciliation, renewals, webhook delivery and
the other jobs, and serves /health, /ready and /metrics on CENTIME_WORKER_PORT.
--processes N (PostgreSQL only) runs N processes of that role sharing the port (node:cluster);
one that dies is started again. See docs/scaling.md for the connection budget.
Migrations are applied first. Refuses to start when a live provider points at a real endpoint
with a default or example secret (see CENTIME_LIVE_MODE).`,
  migrate: `Usage: centime migrate [--status]

Applies pending database migrations (they are also applied on start); --status lists applied
and pending ones without changing anything.`,
  audit: `Usage: centime audit verify | centime audit checkpoint

verify walks the audit log's hash chain and names the first broken link (exit code 1 when one
is found); checkpoint prints the chain's heads as JSON, to keep outside the database.`,
  certs: `Usage: centime certs init [--host NAME,…]
       centime certs issue --email E [--merchant mer_…] [--days N] [--out DIR]
       centime certs revoke SERIAL|FINGERPRINT
       centime certs list

Client certificates for the back office's admin listener (mutual TLS on CENTIME_ADMIN_TLS_PORT).
init creates a local certificate authority and the listener's certificate (for --host, default
localhost, 127.0.0.1 and HOST) in CENTIME_ADMIN_CA_DIR; issue signs a certificate for a staff
member (by e-mail; --days default 365) and records its fingerprint; revoke stops it signing in
at once; list shows every certificate issued. Step by step: docs/backoffice.md.`,
  "admin-key": `Usage: centime admin-key --reset

Replaces the admin key and prints the new one once. The old key stops working at once.`,
  listen: `Usage: centime listen --forward-to URL [--api-key sk_test_…] [--api-url URL] [--events a,b] [--secret whsec_…]

Forwards a merchant's test-mode events to a local URL while you develop, like a webhook endpoint
that needs no public address: each event is POSTed with Standard Webhooks headers signed with
the secret printed at start (or --secret). --api-key defaults to CENTIME_API_KEY; --api-url to
http://HOST:PORT. Live keys are refused: listen is for test mode.`,
  simulator: `Usage: centime simulator [--http-port N] [--smpp-port N] [--host H] [--seed N] [--instant]
                         [--settlement-dir DIR] [--settlement-interval-ms N] [--error-rate F]
                         [--latency-ms MIN-MAX] [--callback-delay-ms N]

Runs the carrier network simulator (OneAPI, CAMARA, Parlay X, SMPP, settlement files, card PSP)
until stopped, for split API/worker set-ups (point CENTIME_CARRIER_NETWORK_URL at it). The
simulator answers test mode only.`,
  bench: `Usage: centime bench [--quick] [--only PARTS] [--connections N,N] [--duration S] [--profile]

Runs the benchmark (see bench/README.md). It loads the machine: keep it short on shared hosts.`,
  help: `Usage: centime help [command]

Shows the general help, or one command's.`,
} as const;

export type CommandName = keyof typeof COMMAND_HELP;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMAND_HELP, name);
}

export function generalHelp(): string {
  return `centime: payments for micropayments and subscriptions of digital goods

Usage: centime <command> [options]        (from a checkout: npx centime <command>)

Commands:
  start [--role …] [--processes N] Start the platform (default: API and workers in one process)
  migrate [--status]              Apply pending database migrations (or show their state)
  admin-key --reset               Replace the admin key and print the new one once
  audit verify|checkpoint         Verify the audit log's hash chain, or export its heads
  certs init|issue|revoke|list    The back office's client certificates (mutual TLS sign-in)
  listen --forward-to URL         Forward a merchant's test-mode events to a local URL
  simulator [options]             Run the carrier network simulator (test mode only)
  bench [--quick]                 Run the benchmark (see bench/README.md)
  help [command]                  Show this help, or a command's (also: centime <command> --help)

Environment:
${environmentHelp()}
`;
}
