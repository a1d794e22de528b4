// Users, browser sessions and API tokens. Passwords are argon2id hashes,
// computed on libuv's thread pool (never on the thread of the monitor), a few
// at a time, behind the login limits of ratelimit.ts; bcrypt hashes from
// before are still accepted and replaced at the next login. Session cookies
// and API tokens are random 32-byte values of which only the SHA-256 is
// stored. Verified credentials are cached in memory so HALT still works when
// the database is unreachable; logout, revocation, role changes, password
// changes and disabling a user are announced (onChange) so open sockets lose
// their rights at once. A password change ends the user's other sessions and
// keeps their API tokens (separate credentials with their own expiry, listed
// and revoked one by one); disabling a user ends both. Users are disabled, not
// deleted: runs, notes and the audit log name them by user name, and a
// deleted name could be given to someone else.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import argon2 from "argon2";
import bcrypt from "bcryptjs";
import { z } from "zod";
import type { Db } from "../lib/db";
import { API, ROLES, type Role, type TokenInfo, type UserInfo, type UserRecord } from "../lib/contract";
import { config } from "../lib/config";
import { ApiErr } from "../lib/errors";
import { cliConfigPath } from "../lib/paths";
import type { Logger } from "../lib/log";
import type { Audit, RequestMeta } from "./audit";
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, type LoginLimits } from "./ratelimit";

export interface AuthUser extends UserInfo {
  id: string;
}

/** Who a credential belongs to, which credential it is and until when it holds. */
export interface Principal {
  user: AuthUser;
  /** SHA-256 of the cookie or token */
  credId: string;
  kind: "session" | "token";
  /** ms since the epoch; null: no expiry */
  expiresAt: number | null;
}

export type AuthChange = { kind: "revoked"; credIds: string[] } | { kind: "user"; userId: string; role: Role } | { kind: "disabled"; userId: string };

export const SESSION_TTL_MS = 12 * 3_600_000;
const CACHE_TTL_MS = 10 * 60_000;
/**
 * argon2id at OWASP's first recommendation (19 MiB, 2 passes, 1 lane): one
 * thread-pool thread per check (~25 ms here), so checks in flight
 * (ratelimit.ts) bound the cores a flood can take from the monitor. Named so
 * needsRehash upgrades hashes made with other settings.
 */
const ARGON2 = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const TOKEN_ID_LEN = 16;
const LAST_USED_EVERY_MS = 60_000;

export const usernameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, . _ - (starting with a letter or digit)");
export const passwordSchema = z.string().min(10, "must be at least 10 characters").max(1000, "must be at most 1000 characters");
export const roleSchema = z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` });

export function sha256(s: string): string {
  return crypto.createHash("sha256").update(s).digest("hex");
}

export function newSecret(): string {
  return crypto.randomBytes(32).toString("base64url");
}

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export interface CliConfig {
  url: string;
  token: string;
}

const live = (t: { revokedAt: Date | null; expiresAt: Date | null }, now = Date.now()) => !t.revokedAt && (!t.expiresAt || t.expiresAt.getTime() > now);

type UserRow = { id: string; username: string; role: string; createdAt: Date; disabledAt: Date | null };
const userView = (u: UserRow): UserRecord => ({ username: u.username, role: u.role as Role, createdAt: u.createdAt.toISOString(), disabledAt: u.disabledAt?.toISOString() ?? null });

function tokenView(t: { id: string; name: string; createdAt: Date; lastUsedAt: Date | null; expiresAt: Date | null; revokedAt: Date | null; user: { username: string } }): TokenInfo {
  return {
    id: t.id.slice(0, TOKEN_ID_LEN),
    name: t.name,
    username: t.user.username,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    status: t.revokedAt ? "revoked" : live(t) ? "active" : "expired",
  };
}

/** Said only to someone who gave the right password. */
const disabledError = (username: string) => new ApiErr("forbidden", `${username} is disabled; ask an admin to enable the account`);

export class Auth {
  readonly limiter: LoginLimiter;
  private cache = new Map<string, { p: Principal; until: number }>();
  private listeners = new Set<(c: AuthChange) => void>();
  private lastUsed = new Map<string, number>();
  // compared against when the user is unknown, so timing does not reveal user names
  private dummyHash: Promise<string> | null = null;
  // role changes and disabling run one at a time, so two admins demoting or
  // disabling each other at once cannot both pass the last-admin check
  private userOps: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly audit: Audit | null = null,
    limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {
    this.limiter = new LoginLimiter(limits);
  }

  /** Hear about logouts, revocations, role changes and disabled users; returns the unsubscribe. */
  onChange(fn: (c: AuthChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private announce(c: AuthChange): void {
    for (const fn of this.listeners) {
      try {
        fn(c);
      } catch (e) {
        this.log.error("auth change listener failed", { error: e as Error });
      }
    }
  }

  private hash(password: string): Promise<string> {
    return this.limiter.hashing(() => argon2.hash(password, ARGON2));
  }

  /** Check a password against an argon2 or (older) bcrypt hash; say whether the hash should be replaced. */
  private async check(hash: string, password: string): Promise<{ ok: boolean; rehash: boolean }> {
    if (hash.startsWith("$argon2")) {
      const ok = await this.limiter.hashing(() => argon2.verify(hash, password));
      return { ok, rehash: ok && argon2.needsRehash(hash, ARGON2) };
    }
    if (hash.startsWith("$2")) {
      const ok = await this.limiter.hashing(() => bcrypt.compare(password, hash));
      return { ok, rehash: ok };
    }
    return { ok: false, rehash: false };
  }

  /**
   * First start: create the admin (password from GAMEDAY_ADMIN_PASSWORD, or a
   * random one returned so the caller prints it once). Every start: make sure
   * the local CLI token file exists, is valid and points at this worker.
   */
  async bootstrap(workerUrl: string): Promise<{ createdAdmin?: { username: string; password: string; generated: boolean } }> {
    const out: { createdAdmin?: { username: string; password: string; generated: boolean } } = {};
    // an enabled admin (the last one cannot be disabled) owns the local CLI token
    let admin = await this.db.user.findFirst({ where: { role: "admin", disabledAt: null }, orderBy: { createdAt: "asc" } });
    if (!admin) {
      const username = config().GAMEDAY_ADMIN_USER;
      const given = config().GAMEDAY_ADMIN_PASSWORD;
      const password = given || crypto.randomBytes(12).toString("base64url");
      admin = await this.db.user.create({ data: { id: crypto.randomUUID(), username, passwordHash: await this.hash(password), role: "admin" } });
      out.createdAdmin = { username, password, generated: !given };
    }
    await this.ensureCliToken(admin.id, workerUrl);
    return out;
  }

  private async ensureCliToken(adminId: string, url: string): Promise<void> {
    const file = cliConfigPath();
    let cfg: CliConfig | null = null;
    try {
      cfg = JSON.parse(fs.readFileSync(file, "utf8")) as CliConfig;
    } catch {
      cfg = null;
    }
    let token = cfg?.token;
    const row = token ? await this.db.apiToken.findUnique({ where: { id: sha256(token) } }) : null;
    if (!token || !row || !live(row)) {
      token = newSecret();
      await this.db.apiToken.create({ data: { id: sha256(token), name: "local-cli", userId: adminId } });
    }
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ url, token } satisfies CliConfig, null, 2) + "\n", { mode: 0o600 });
    fs.renameSync(tmp, file);
    fs.chmodSync(file, 0o600);
    const user = await this.db.user.findUnique({ where: { id: adminId } });
    if (user) this.remember({ user: { id: user.id, username: user.username, role: user.role as Role }, credId: sha256(token), kind: "token", expiresAt: null });
  }

  /** A user, without checks or audit (first start, tests). */
  async createUser(username: string, password: string, role: Role): Promise<AuthUser> {
    const u = await this.db.user.create({ data: { id: crypto.randomUUID(), username, passwordHash: await this.hash(password), role } });
    return { id: u.id, username: u.username, role };
  }

  /** A token for a user, without checks or audit (tests); no expiry unless given. */
  async createToken(userId: string, name: string, expiresAt: Date | null = null): Promise<string> {
    const token = newSecret();
    await this.db.apiToken.create({ data: { id: sha256(token), name, userId, expiresAt } });
    return token;
  }

  /**
   * Password login → session cookie value, or null for a wrong name or
   * password. Throws rate_limited (with Retry-After) before any hashing when a
   * limit is reached.
   */
  async login(username: string, password: string, meta: RequestMeta | null = null): Promise<{ cookie: string; user: AuthUser; maxAgeSec: number } | null> {
    const refused = this.limiter.admit(meta?.address ?? "unknown", username);
    if (refused) {
      if (refused.first) this.audit?.record(meta, { actor: username, action: "login-failed", ok: false, detail: { reason: "rate-limited", why: refused.reason } });
      throw new ApiErr("rate_limited", refused.reason, undefined, { "retry-after": String(refused.retryAfterSec) });
    }
    const u = await this.db.user.findUnique({ where: { username } });
    this.dummyHash ??= this.hash(newSecret());
    const { ok, rehash } = await this.check(u?.passwordHash ?? (await this.dummyHash), password);
    if (!u || !ok) {
      this.limiter.failed(username);
      this.audit?.record(meta, { actor: username, action: "login-failed", ok: false, detail: { reason: u ? "wrong password" : "unknown user" } });
      return null;
    }
    this.limiter.succeeded(username);
    // said only to someone who knows the password, so it reveals nothing to a guesser
    if (u.disabledAt) {
      this.audit?.record(meta, { actor: username, action: "login-failed", ok: false, detail: { reason: "disabled" } });
      throw disabledError(username);
    }
    let checked = u.passwordHash;
    if (rehash) {
      // only over the hash just checked: a password changed meanwhile is never put back
      const next = await this.hash(password);
      if ((await this.db.user.updateMany({ where: { id: u.id, passwordHash: u.passwordHash }, data: { passwordHash: next } })).count) {
        checked = next;
        this.log.info("password hash upgraded to argon2id", { username });
      }
    }
    const cookie = newSecret();
    const id = sha256(cookie);
    await this.db.session.create({ data: { id, userId: u.id, expiresAt: new Date(Date.now() + SESSION_TTL_MS) } });
    // A password change or a disable that landed while the password was being
    // checked: they change the user first and then end its sessions, and this
    // reads the user after its session exists, so one of the two sees the other
    // (SQLite serialises the writes) and no session outlives the change.
    const now = await this.db.user.findUnique({ where: { id: u.id }, select: { passwordHash: true, disabledAt: true } });
    if (!now || now.passwordHash !== checked || now.disabledAt) {
      await this.db.session.deleteMany({ where: { id } });
      const reason = !now ? "user deleted during login" : now.disabledAt ? "disabled during login" : "password changed during login";
      this.audit?.record(meta, { actor: username, action: "login-failed", ok: false, detail: { reason } });
      if (now?.disabledAt) throw disabledError(username);
      return null;
    }
    const user = { id: u.id, username: u.username, role: u.role as Role };
    this.audit?.record(meta, { actor: username, action: "login", ok: true });
    return { cookie, user, maxAgeSec: SESSION_TTL_MS / 1000 };
  }

  async logout(cookie: string, meta: RequestMeta | null = null, actor?: string): Promise<void> {
    const id = sha256(cookie);
    this.cache.delete(id);
    await this.db.session.deleteMany({ where: { id } });
    if (actor) this.audit?.record(meta, { actor, action: "logout", ok: true });
    this.announce({ kind: "revoked", credIds: [id] });
  }

  private remember(p: Principal): void {
    this.cache.set(p.credId, { p, until: Date.now() + CACHE_TTL_MS });
  }

  /** Resolve a bearer token or session cookie to its principal, or null. */
  async verify(secret: { bearer?: string; cookie?: string }): Promise<Principal | null> {
    const raw = secret.bearer || secret.cookie;
    if (!raw) return null;
    const id = sha256(raw);
    const hit = this.cache.get(id);
    try {
      if (secret.bearer) {
        const t = await this.db.apiToken.findUnique({ where: { id }, include: { user: true } });
        if (!t || !live(t) || t.user.disabledAt) return this.forget(id);
        this.touch(id);
        const p: Principal = { user: { id: t.user.id, username: t.user.username, role: t.user.role as Role }, credId: id, kind: "token", expiresAt: t.expiresAt?.getTime() ?? null };
        this.remember(p);
        return p;
      }
      const s = await this.db.session.findUnique({ where: { id }, include: { user: true } });
      if (!s || s.expiresAt.getTime() <= Date.now() || s.user.disabledAt) return this.forget(id);
      const p: Principal = { user: { id: s.user.id, username: s.user.username, role: s.user.role as Role }, credId: id, kind: "session", expiresAt: s.expiresAt.getTime() };
      this.remember(p);
      return p;
    } catch (e) {
      // database unreachable: fall back to credentials verified recently
      this.log.warn("auth database lookup failed; using cached credentials", { error: (e as Error).message });
      const now = Date.now();
      return hit && hit.until > now && (hit.p.expiresAt === null || hit.p.expiresAt > now) ? hit.p : null;
    }
  }

  /** lastUsedAt, written at most once a minute per token and never awaited */
  private touch(id: string): void {
    const now = Date.now();
    if ((this.lastUsed.get(id) ?? 0) > now - LAST_USED_EVERY_MS) return;
    this.lastUsed.set(id, now);
    this.db.apiToken.update({ where: { id }, data: { lastUsedAt: new Date(now) } }).catch((e: Error) => this.log.warn("token lastUsedAt not written", { error: e.message }));
  }

  private forget(id: string): null {
    this.cache.delete(id);
    return null;
  }

  // ---- users (admin)

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.db.user.findMany({ orderBy: { createdAt: "asc" } });
    return rows.map(userView);
  }

  private async userNamed(username: string): Promise<UserRow> {
    const u = await this.db.user.findUnique({ where: { username } });
    if (!u) throw new ApiErr("not_found", `no user ${username}`);
    return u;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.userOps.then(fn);
    this.userOps = r.catch(() => undefined);
    return r;
  }

  /** The last enabled admin may not stop being one. */
  private async refuseLastAdmin(u: UserRow, what: string): Promise<void> {
    if (u.role !== "admin" || u.disabledAt) return;
    if ((await this.db.user.count({ where: { role: "admin", disabledAt: null } })) === 1) {
      throw new ApiErr("conflict", `${u.username} is the last admin; ${what}`);
    }
  }

  /** Forget cached credentials of a user (all, or all but one). */
  private forgetUser(userId: string, except: string | null = null): void {
    for (const [id, c] of this.cache) if (c.p.user.id === userId && id !== except) this.cache.delete(id);
  }

  /**
   * A new password hash, and every session of the user but `keep` ended (their
   * sockets disconnect). API tokens are kept: see the top of this file.
   */
  private async replacePassword(userId: string, password: string, keep: string | null): Promise<{ sessionsEnded: number; tokensKept: number }> {
    await this.db.user.update({ where: { id: userId }, data: { passwordHash: await this.hash(password) } });
    const ended = await this.db.session.findMany({ where: { userId, ...(keep ? { id: { not: keep } } : {}) }, select: { id: true } });
    const ids = ended.map((x) => x.id);
    if (ids.length) await this.db.session.deleteMany({ where: { id: { in: ids } } });
    for (const id of ids) this.cache.delete(id);
    if (ids.length) this.announce({ kind: "revoked", credIds: ids });
    const tokens = await this.db.apiToken.findMany({ where: { userId, revokedAt: null }, select: { revokedAt: true, expiresAt: true } });
    return { sessionsEnded: ids.length, tokensKept: tokens.filter((t) => live(t)).length };
  }

  /**
   * The caller's own password. The current one is checked behind the login
   * limits (a wrong one counts as a failed login of that user), so this is no
   * way around them to guess passwords.
   */
  async changePassword(p: Principal, meta: RequestMeta, current: string, next: string): Promise<{ sessionsEnded: number; tokensKept: number }> {
    const username = p.user.username;
    const refused = this.limiter.admit(meta.address, username);
    if (refused) {
      if (refused.first) this.audit?.record(meta, { actor: username, action: "password-change", ok: false, detail: { reason: "rate-limited", why: refused.reason } });
      throw new ApiErr("rate_limited", refused.reason, undefined, { "retry-after": String(refused.retryAfterSec) });
    }
    const u = await this.db.user.findUnique({ where: { id: p.user.id } });
    if (!u || u.disabledAt) throw new ApiErr("unauthenticated", "log in again");
    const { ok } = await this.check(u.passwordHash, current);
    if (!ok) {
      this.limiter.failed(username);
      this.audit?.record(meta, { actor: username, action: "password-change", ok: false, detail: { reason: "wrong current password" } });
      throw new ApiErr("forbidden", "the current password is wrong", [{ path: "currentPassword", message: "is not your current password" }]);
    }
    this.limiter.succeeded(username);
    const r = await this.replacePassword(u.id, next, p.kind === "session" ? p.credId : null);
    this.audit?.record(meta, { actor: username, action: "password-change", target: username, ok: true, detail: r });
    return r;
  }

  /** An admin sets another user's password; every session of that user ends. */
  async resetPassword(actor: AuthUser, meta: RequestMeta, username: string, password: string): Promise<{ sessionsEnded: number; tokensKept: number }> {
    const u = await this.userNamed(username);
    if (u.id === actor.id) throw new ApiErr("conflict", `that is you, ${actor.username}: change your own password with your current one (POST ${API.password}, or gameday user passwd)`);
    const r = await this.replacePassword(u.id, password, null);
    this.audit?.record(meta, { actor: actor.username, action: "user-password-reset", target: username, ok: true, detail: r });
    return r;
  }

  /**
   * Disable a user: no login, every session ended, every token revoked, every
   * socket disconnected at once. Not yourself, not the last admin.
   */
  disableUser(actor: AuthUser, meta: RequestMeta, username: string): Promise<UserRecord> {
    return this.exclusive(async () => {
      const u = await this.userNamed(username);
      if (u.id === actor.id) throw new ApiErr("conflict", `that is you, ${actor.username}: another admin must disable your account`);
      if (u.disabledAt) return userView(u);
      await this.refuseLastAdmin(u, "make another user admin first");
      const now = new Date();
      const row = await this.db.user.update({ where: { id: u.id }, data: { disabledAt: now } });
      const sessions = await this.db.session.deleteMany({ where: { userId: u.id } });
      const tokens = await this.db.apiToken.updateMany({ where: { userId: u.id, revokedAt: null }, data: { revokedAt: now } });
      this.forgetUser(u.id);
      this.audit?.record(meta, { actor: actor.username, action: "user-disable", target: username, ok: true, detail: { sessionsEnded: sessions.count, tokensRevoked: tokens.count } });
      this.announce({ kind: "disabled", userId: u.id });
      return userView(row);
    });
  }

  /** Enable a disabled user: they may log in again; their old sessions and tokens stay ended. */
  async enableUser(actor: AuthUser, meta: RequestMeta, username: string): Promise<UserRecord> {
    const u = await this.userNamed(username);
    if (!u.disabledAt) return userView(u);
    const row = await this.db.user.update({ where: { id: u.id }, data: { disabledAt: null } });
    this.audit?.record(meta, { actor: actor.username, action: "user-enable", target: username, ok: true });
    return userView(row);
  }

  async addUser(actor: AuthUser, meta: RequestMeta, input: { username: string; password: string; role: Role }): Promise<UserRecord> {
    const existing = await this.db.user.findUnique({ where: { username: input.username } });
    if (existing) throw new ApiErr("conflict", `user ${input.username} already exists${existing.disabledAt ? " (disabled: enable it instead)" : ""}`);
    const u = await this.createUser(input.username, input.password, input.role);
    this.audit?.record(meta, { actor: actor.username, action: "user-create", target: u.username, ok: true, detail: { role: u.role } });
    return userView(await this.db.user.findUniqueOrThrow({ where: { id: u.id } }));
  }

  setRole(actor: AuthUser, meta: RequestMeta, username: string, role: Role): Promise<UserRecord> {
    return this.exclusive(async () => {
      const u = await this.userNamed(username);
      if (role !== "admin") await this.refuseLastAdmin(u, "make another user admin first");
      const row = await this.db.user.update({ where: { id: u.id }, data: { role } });
      for (const [id, c] of this.cache) if (c.p.user.id === u.id) this.cache.set(id, { ...c, p: { ...c.p, user: { ...c.p.user, role } } });
      this.audit?.record(meta, { actor: actor.username, action: "user-role", target: username, ok: true, detail: { from: u.role, to: role } });
      this.announce({ kind: "user", userId: u.id, role });
      return userView(row);
    });
  }

  // ---- API tokens (own; an admin's reach every user's)

  async listTokens(actor: AuthUser): Promise<TokenInfo[]> {
    const rows = await this.db.apiToken.findMany({
      where: actor.role === "admin" ? {} : { userId: actor.id },
      include: { user: true },
      orderBy: { createdAt: "asc" },
    });
    return rows.map(tokenView);
  }

  /** A new token for the actor (an admin may name another user); the secret is in the answer only. */
  async issueToken(actor: AuthUser, meta: RequestMeta, input: { name: string; expiresInMs: number; username?: string }): Promise<{ token: string; info: TokenInfo }> {
    let owner = actor;
    if (input.username && input.username !== actor.username) {
      if (actor.role !== "admin") throw new ApiErr("forbidden", `only an admin creates tokens for another user; ${actor.username} is ${actor.role}`);
      const u = await this.db.user.findUnique({ where: { username: input.username } });
      if (!u) throw new ApiErr("not_found", `no user ${input.username}`);
      if (u.disabledAt) throw new ApiErr("conflict", `${input.username} is disabled; enable the account first`);
      owner = { id: u.id, username: u.username, role: u.role as Role };
    }
    const token = newSecret();
    const row = await this.db.apiToken.create({
      data: { id: sha256(token), name: input.name, userId: owner.id, expiresAt: new Date(Date.now() + input.expiresInMs) },
      include: { user: true },
    });
    const info = tokenView(row);
    this.audit?.record(meta, { actor: actor.username, action: "token-create", target: info.id, ok: true, detail: { name: input.name, for: owner.username, expiresAt: info.expiresAt } });
    return { token, info };
  }

  async revokeToken(actor: AuthUser, meta: RequestMeta, id: string): Promise<TokenInfo> {
    if (!/^[0-9a-f]{8,64}$/.test(id)) throw new ApiErr("invalid_input", "a token id is 8-64 hex digits (see gameday token list)", [{ path: "id", message: "expected hex digits" }]);
    const rows = await this.db.apiToken.findMany({
      where: { id: { startsWith: id }, ...(actor.role === "admin" ? {} : { userId: actor.id }) },
      include: { user: true },
      take: 2,
    });
    if (!rows.length) throw new ApiErr("not_found", `no token ${id}${actor.role === "admin" ? "" : ` of ${actor.username}`}`);
    if (rows.length > 1) throw new ApiErr("conflict", `${id} names more than one token; give more digits`);
    const row = rows[0].revokedAt ? rows[0] : await this.db.apiToken.update({ where: { id: rows[0].id }, data: { revokedAt: new Date() }, include: { user: true } });
    this.cache.delete(row.id);
    this.audit?.record(meta, { actor: actor.username, action: "token-revoke", target: row.id.slice(0, TOKEN_ID_LEN), ok: true, detail: { name: row.name, of: row.user.username } });
    this.announce({ kind: "revoked", credIds: [row.id] });
    return tokenView(row);
  }
}

export function readCliConfig(): CliConfig | null {
  try {
    return JSON.parse(fs.readFileSync(cliConfigPath(), "utf8")) as CliConfig;
  } catch {
    return null;
  }
}
