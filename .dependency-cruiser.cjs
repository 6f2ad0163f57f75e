/**
 * Module boundaries of src/ (docs/README.md, "Map of the source folders"), checked in `npm test`
 * by test/architecture/boundaries.test.ts. Deep imports that existed when the check arrived are
 * listed in .dependency-cruiser-known-violations.json and may only shrink.
 */
const FOLDER = "^src/([^/]+)/";

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "No import cycles (type-only imports included: they are cycles of meaning).",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "platform-imports-nothing-of-ours",
      severity: "error",
      from: { path: "^src/platform/" },
      to: { path: "^src/", pathNot: "^src/platform/" },
    },
    {
      name: "db-imports-only-platform",
      severity: "error",
      from: { path: "^src/db/" },
      to: { path: "^src/", pathNot: "^src/(db|platform)/" },
    },
    {
      name: "domain-never-imports-http",
      comment:
        "Only a capability's routes.ts (and its parts, routes-*.ts) or pages.ts speaks HTTP, through src/http/index.ts.",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/http/", "/routes\\.ts$", "/routes-[a-z-]+\\.ts$", "/pages\\.ts$", "^src/[^/]+\\.ts$"] },
      to: { path: "^src/http/" },
    },
    {
      name: "routes-use-the-http-kit-only",
      severity: "error",
      from: { path: ["/routes\\.ts$", "/routes-[a-z-]+\\.ts$", "/pages\\.ts$"] },
      to: { path: "^src/http/", pathNot: "^src/http/index\\.ts$" },
    },
    {
      name: "routes-are-wired-by-the-app-only",
      severity: "error",
      comment: "Another folder's HTTP adapter is wired by src/http/app.ts, not imported.",
      from: { path: "^src/([^/]+)/", pathNot: ["^src/http/app\\.ts$"] },
      to: { path: "^src/[^/]+/(routes|pages)\\.ts$", pathNot: ["^src/db/", "^src/$1/"] },
    },
    {
      name: "one-public-entry",
      comment: "Another folder is reached through its index.ts (platform/ and db/ are the kernel).",
      severity: "error",
      from: { path: FOLDER },
      to: {
        path: FOLDER,
        pathNot: ["^src/$1/", "^src/(platform|db)/", "^src/[^/]+/index\\.ts$", "^src/[^/]+/(routes|pages)\\.ts$"],
      },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    includeOnly: "^src/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    moduleSystems: ["es6"],
  },
};
