import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "./platform.ts";

/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) that the summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
    children?: number[];
  }>;
  samples: number[];
}

export interface HotSpot {
  name: string;
  where: string;
  selfPct: number;
  totalPct: number;
}

export interface ProfileSummary {
  file: string;
  samples: number;
  /** Share of samples that were not idle, program or GC bookkeeping. */
  busyPct: number;
  bySelf: HotSpot[];
  byTotal: HotSpot[];
  /** Self time grouped by origin: a package, a source directory, node internals, GC, idle. */
  byOrigin: Array<{ origin: string; selfPct: number }>;
}

function shortUrl(url: string): string {
  if (!url) return "";
  let path = url;
  if (url.startsWith("file://")) path = fileURLToPath(url);
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) return path.slice(nm + "node_modules/".length);
  if (path.startsWith("/")) return relative(REPO_ROOT, path);
  return path;
}

function originOf(name: string, url: string): string {
  if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") return name;
  const short = shortUrl(url);
  if (!short) return "(native/builtin)";
  if (short.startsWith("node:")) return "node internals";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const parts = url.slice(nm + "node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const parts = short.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : short;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const parent = new Map<number, number>();
  const byId = new Map<number, CpuProfile["nodes"][number]>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || "(anonymous)"}\u0000${shortUrl(f.url)}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const origins = new Map<string, number>();
  let idle = 0;
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    const key = keyOf(id);
    self.set(key, (self.get(key) ?? 0) + 1);
    const origin = originOf(node.callFrame.functionName, node.callFrame.url);
    origins.set(origin, (origins.get(origin) ?? 0) + 1);
    if (origin === "(idle)" || origin === "(program)") idle++;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(at);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + 1);
    }
  }
  const n = profile.samples.length || 1;
  const spot = ([key, count]: [string, number], other: Map<string, number>, selfFirst: boolean): HotSpot => {
    const [name, where] = key.split("\u0000") as [string, string];
    const otherPct = ((other.get(key) ?? 0) / n) * 100;
    const pct = (count / n) * 100;
    return {
      name,
      where,
      selfPct: selfFirst ? pct : otherPct,
      totalPct: selfFirst ? otherPct : pct,
    };
  };
  const skip = (key: string) => /^\((root|program|idle)\)/.test(key) || key.startsWith("(anonymous)\u0000:");
  return {
    file,
    samples: profile.samples.length,
    busyPct: ((n - idle) / n) * 100,
    bySelf: [...self.entries()]
      .filter(([k]) => !skip(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map((e) => spot(e, total, true)),
    byTotal: [...total.entries()]
      .filter(([k]) => !skip(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top * 2)
      .map((e) => spot(e, self, false)),
    byOrigin: [...origins.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([origin, count]) => ({ origin, selfPct: (count / n) * 100 })),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const pct = (v: number) => `${v.toFixed(1).padStart(5)}%`;
  const lines = [
    `profile ${summary.file}: ${summary.samples} samples, ${summary.busyPct.toFixed(1)}% busy`,
    "  self time by origin:",
    ...summary.byOrigin.map((o) => `    ${pct(o.selfPct)}  ${o.origin}`),
    "  top functions by self time (self / total):",
    ...summary.bySelf.map((s) => `    ${pct(s.selfPct)} ${pct(s.totalPct)}  ${s.name}  ${s.where}`),
    "  top functions by total time (total / self):",
    ...summary.byTotal.map((s) => `    ${pct(s.totalPct)} ${pct(s.selfPct)}  ${s.name}  ${s.where}`),
  ];
  return lines.join("\n");
}

/** The main thread's profile: the largest one (the others are tsx's loader thread). */
export function latestProfile(dir: string): string | null {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  return files[0] ?? null;
}

// `node --import tsx bench/profile.ts <file.cpuprofile>` prints a summary of any profile.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node --import tsx bench/profile.ts <file.cpuprofile> [top]\n");
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, Number(process.argv[3] ?? 15)))}\n`);
}
