import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";

/**
 * Static files for pages, held in memory with a gzip copy, served under `/assets/<name>` with a
 * content hash in the URL (`?v=`) so they can be cached for a long time. There is no build step:
 * these are the files as written, and the browser libraries as their packages ship them.
 */
interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  hash: string;
}

const TYPES: Record<string, string> = {
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

const assets = new Map<string, Asset>();
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Makes a file servable as `/assets/<name>`. Capabilities register their own scripts this way. */
export function registerAsset(name: string, path: string): void {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`asset name '${name}' is not a plain file name`);
  const extension = name.slice(name.lastIndexOf("."));
  const type = TYPES[extension];
  if (!type) throw new Error(`asset '${name}' has no known content type`);
  const body = readFileSync(path);
  assets.set(name, {
    body,
    gzip: gzipSync(body, { level: 9 }),
    type,
    hash: createHash("sha256").update(body).digest("hex").slice(0, 10),
  });
}

/** The URL of an asset, with its content hash. */
export function assetUrl(name: string): string {
  const asset = assets.get(name);
  if (!asset) throw new Error(`unknown asset '${name}'`);
  return `/assets/${name}?v=${asset.hash}`;
}

/** Bytes of an asset as sent to a browser that accepts gzip (page weight budgets). */
export function assetTransferSize(name: string): number {
  return assets.get(name)?.gzip.length ?? 0;
}

registerAsset("centime.css", join(here, "assets", "centime.css"));
registerAsset("favicon.svg", join(here, "assets", "favicon.svg"));
registerAsset("centime-page.js", join(here, "assets", "centime-page.js"));
registerAsset("htmx.min.js", require.resolve("htmx.org/dist/htmx.min.js"));
registerAsset("uplot.min.js", require.resolve("uplot/dist/uPlot.iife.min.js"));
registerAsset("uplot.min.css", require.resolve("uplot/dist/uPlot.min.css"));

export async function assetRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { name: string } }>(
    "/assets/:name",
    { schema: { hide: true } },
    async (request, reply) => {
      const asset = assets.get(request.params.name);
      if (!asset) return reply.code(404).type("text/plain; charset=utf-8").send("Not found");
      const etag = `"${asset.hash}"`;
      reply
        .header("cache-control", "public, max-age=31536000, immutable")
        .header("etag", etag)
        .header("x-content-type-options", "nosniff")
        .header("cross-origin-resource-policy", "cross-origin")
        .header("vary", "accept-encoding")
        .type(asset.type);
      if (request.headers["if-none-match"] === etag) return reply.code(304).send();
      if (/\bgzip\b/.test(request.headers["accept-encoding"] ?? "")) {
        return reply.header("content-encoding", "gzip").send(asset.gzip);
      }
      return reply.send(asset.body);
    },
  );
}
