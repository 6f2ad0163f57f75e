import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/**
 * Payers' passwords with scrypt (node's crypto, no native add-on), stored as
 * `scrypt$N$r$p$salt$hash` so the cost can be raised later without breaking old hashes.
 */
export const PASSWORD_LIMITS = {
  length_min: 10,
  length_max: 200,
  scrypt_cost: 16_384,
  scrypt_block_size: 8,
  scrypt_parallelization: 1,
  key_length_bytes: 32,
  salt_length_bytes: 16,
} as const;

function derive(password: string, salt: Buffer, options: ScryptOptions, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize("NFKC"),
      salt,
      length,
      { ...options, maxmem: 64 * 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(PASSWORD_LIMITS.salt_length_bytes);
  const N = PASSWORD_LIMITS.scrypt_cost;
  const r = PASSWORD_LIMITS.scrypt_block_size;
  const p = PASSWORD_LIMITS.scrypt_parallelization;
  const key = await derive(password, salt, { N, r, p }, PASSWORD_LIMITS.key_length_bytes);
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/** A hash nobody's password matches, so that an unknown e-mail costs as much time as a known one. */
let decoy: Promise<string> | undefined;

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  decoy ??= hashPassword(randomBytes(16).toString("hex"));
  const parts = (stored ?? (await decoy)).split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, "base64url");
  const key = await derive(
    password,
    Buffer.from(salt, "base64url"),
    { N: Number(n), r: Number(r), p: Number(p) },
    expected.length,
  );
  return stored !== null && key.length === expected.length && timingSafeEqual(key, expected);
}
