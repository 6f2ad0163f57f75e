/**
 * Settlement-file encodings: CSV with a header and trailer, and fixed-width records. Pure
 * functions; the settlement connector does the I/O.
 */

export function csvField(value: string): string {
  return /[",;\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function writeCsv(rows: readonly (readonly string[])[], separator = ","): string {
  return rows.map((r) => r.map(csvField).join(separator)).join("\n") + "\n";
}

/** RFC 4180-ish reader: quoted fields, doubled quotes; throws on an unterminated quote. */
export function readCsv(text: string, separator = ","): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === separator) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (quoted) throw new Error("unterminated quoted field");
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export interface FixedField {
  name: string;
  width: number;
  align?: "left" | "right";
  pad?: string;
}

export function writeFixed(fields: readonly FixedField[], values: Record<string, string>): string {
  return fields
    .map((f) => {
      const v = values[f.name] ?? "";
      if (v.length > f.width) throw new Error(`${f.name} is longer than ${f.width}`);
      const pad = f.pad ?? " ";
      return f.align === "right" ? v.padStart(f.width, pad) : v.padEnd(f.width, pad);
    })
    .join("");
}

export function readFixed(fields: readonly FixedField[], line: string): Record<string, string> {
  const width = fields.reduce((n, f) => n + f.width, 0);
  if (line.length !== width) throw new Error(`record is ${line.length} characters, expected ${width}`);
  const out: Record<string, string> = {};
  let at = 0;
  for (const f of fields) {
    const raw = line.slice(at, at + f.width);
    at += f.width;
    out[f.name] =
      f.align === "right"
        ? raw.replace(new RegExp(`^${f.pad === "0" ? "0+(?=.)" : " +"}`), "")
        : raw.trimEnd();
  }
  return out;
}
