import type { StepResult } from "./load.ts";

export function fmt(value: number, digits = 0): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function stepLine(step: StepResult): string {
  const other = step.non2xx + step.errors + step.timeouts;
  const codes = Object.entries(step.statusCodes)
    .filter(([code]) => !code.startsWith("2"))
    .map(([code, count]) => `${code}×${count}`)
    .join(" ");
  return (
    `${step.mode.padEnd(8)} ${step.case.padEnd(7)} c=${String(step.connections).padEnd(4)}` +
    `${fmt(step.paymentsPerSec).padStart(7)} payments/s  p50 ${fmt(step.p50Ms, 1).padStart(6)} ms` +
    `  p99 ${fmt(step.p99Ms, 1).padStart(6)} ms  RSS ${fmt(step.peakRssMb).padStart(4)} MB` +
    `  2xx ${step.ok}  non-2xx ${step.non2xx}${codes ? ` (${codes})` : ""}` +
    (other > step.non2xx ? `  errors ${step.errors} timeouts ${step.timeouts}` : "") +
    (step.cpuMsPerPayment
      ? `  CPU/payment API ${fmt(step.cpuMsPerPayment.api, 3)} ms + PostgreSQL ${fmt(step.cpuMsPerPayment.db, 3)} ms` +
        ` (client ${fmt(step.cpuMsPerPayment.client, 3)} ms, machine ${fmt(step.cpuMsPerPayment.machine, 3)} ms)`
      : "")
  );
}

/** A plain text table: the first row is the header. */
export function table(rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join("\n");
}
