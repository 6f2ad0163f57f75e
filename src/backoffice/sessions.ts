import { createHash } from "node:crypto";
import type { Db } from "../db/db.ts";
import { HOUR_MS } from "../platform/clock.ts";
import {
  newSessionToken,
  passwordMatches,
  type StaffDirectory,
  type StaffRow,
  totpStep,
} from "../staff/index.ts";

/** A signed-in session lasts this long, however active. */
export const SESSION_TTL_MS = 8 * HOUR_MS;
/** Failed sign-ins allowed per e-mail and per address in a window. */
const FAILURES_MAX = 5;
const FAILURE_WINDOW_MS = 15 * 60 * 1000;

function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export type SignIn =
  | { ok: true; staff: StaffRow; token: string }
  | { ok: false; reason: "invalid" | "throttled" };

export class StaffSessions {
  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
    private readonly staff: StaffDirectory,
  ) {}

  private async throttled(subjects: string[], nowMs: number): Promise<boolean> {
    const { rows } = await this.db.query<{ n: number }>(
      "select count(*)::int as n from signin_failures where subject = any($1) and failures >= $2 and window_start > $3",
      [subjects, FAILURES_MAX, new Date(nowMs - FAILURE_WINDOW_MS)],
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  private async fail(subjects: string[], nowMs: number): Promise<void> {
    for (const subject of subjects) {
      await this.db.query(
        `insert into signin_failures (subject, failures, window_start) values ($1, 1, $2)
         on conflict (subject) do update set
           failures = case when signin_failures.window_start > $3 then signin_failures.failures + 1 else 1 end,
           window_start = case when signin_failures.window_start > $3 then signin_failures.window_start else $2 end`,
        [subject, new Date(nowMs), new Date(nowMs - FAILURE_WINDOW_MS)],
      );
    }
  }

  /** Password and second factor; every failure counts against the e-mail and the address. */
  async signIn(input: { email: string; password: string; code: string; ip: string }): Promise<SignIn> {
    const nowMs = this.clock.nowMs();
    const subjects = [`email:${input.email.toLowerCase()}`, `ip:${input.ip}`];
    if (await this.throttled(subjects, nowMs)) return { ok: false, reason: "throttled" };
    const candidates = await this.staff.allByEmail(input.email);
    const staff = candidates[0] ?? null;
    // The password is checked even for an unknown e-mail, so timing does not tell which exist.
    const passwordOk = await passwordMatches(input.password, staff?.password_hash ?? null);
    const step = staff ? await totpStep(await this.staff.totpSecretOf(staff), input.code) : null;
    // A code is good once: the step is claimed only once the password is right too.
    const codeOk =
      staff !== null && passwordOk && step !== null && (await this.staff.claimTotpStep(staff.id, step));
    if (!staff || !passwordOk || !codeOk) {
      await this.fail(subjects, nowMs);
      return { ok: false, reason: "invalid" };
    }
    await this.db.query("delete from signin_failures where subject = any($1)", [subjects]);
    return { ok: true, staff, token: await this.create(staff.id, "password", nowMs) };
  }

  async create(staffId: string, method: "password" | "certificate", nowMs: number): Promise<string> {
    const token = newSessionToken();
    await this.db.query(
      "insert into staff_sessions (token_hash, staff_id, method, created, expires_at) values ($1, $2, $3, $4, $5)",
      [tokenHash(token), staffId, method, new Date(nowMs), new Date(nowMs + SESSION_TTL_MS)],
    );
    return token;
  }

  /** The staff member behind a session cookie, while it lasts. */
  async resolve(token: string | undefined): Promise<{ staff: StaffRow; sessionId: string } | null> {
    if (!token) return null;
    const hash = tokenHash(token);
    const { rows } = await this.db.query<StaffRow & { session_method: string }>(
      `select s.*, x.method as session_method from staff_sessions x join staff s on s.id = x.staff_id
       where x.token_hash = $1 and x.expires_at > $2 and s.disabled_at is null`,
      [hash, new Date(this.clock.nowMs())],
    );
    const row = rows[0];
    return row ? { staff: row, sessionId: `session:${hash.slice(0, 12)}` } : null;
  }

  async end(token: string | undefined): Promise<void> {
    if (token) await this.db.query("delete from staff_sessions where token_hash = $1", [tokenHash(token)]);
  }
}
