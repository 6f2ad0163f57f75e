/**
 * RFC 4180 CSV. Text cells that a spreadsheet would read as a formula (starting with = + - @, a
 * tab or a carriage return) get a leading apostrophe; numbers are written as they are.
 */
/** A bigint is a sum past 2^53, written exactly. */
export type Cell = string | number | bigint | null;

function field(value: Cell): string {
  if (value === null) return "";
  let s = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<Cell>>): string {
  return `${[header, ...rows].map((r) => r.map(field).join(",")).join("\r\n")}\r\n`;
}
