#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step.
// Two dependencies are ES modules loaded with require(), which Node supports from 20.19 on: say
// so plainly instead of failing later with an obscure module error.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `centime needs Node.js 20.19 or newer (this is ${process.versions.node}); install a current Node.js LTS\n`,
  );
  process.exit(1);
}
const { register } = await import("tsx/esm/api");
register();
await import("../src/main.ts");
