/**
 * Imported first by the entry points, before any dependency loads: two dependencies (`cookie` and
 * `content-disposition`, reached through Fastify) are ES modules loaded with require(), which
 * Node supports without a flag from 20.19 on. Older versions fail later with an obscure error.
 */
export const NODE_VERSION_MIN = [20, 19] as const;

export function nodeVersionProblem(version: string = process.versions.node): string | null {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const [needMajor, needMinor] = NODE_VERSION_MIN;
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return null;
  return `centime needs Node.js ${needMajor}.${needMinor} or newer (this is ${version}); install a current Node.js LTS`;
}

const problem = nodeVersionProblem();
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
