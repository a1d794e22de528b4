// Users, browser sessions and API tokens. Passwords are argon2id hashes,
// computed on libuv's thread pool (never on the thread of the monitor), a few
// at a time, behind the login limits of ratelimit.ts; bcrypt hashes from
// before are still accepted and replaced at the next login. Session cookies
// and API tokens are random 32-byte values of which only the SHA-256 is
// stored. Verified credentials are cached in memory so HALT still works when
// the database is unreachable; logout, revocation and role changes are
// announced (onChange) so open sockets lose their rights at once.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import argon2 from "argon2";
import bcrypt from "bcryptjs";
import { z } from "zod";
import type { Db } from "../lib/db";
import { ROLES, type Role, type TokenInfo, type UserInfo, type UserRecord } from "../lib/contract";
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

export type AuthChange = { kind: "revoked"; credIds: string[] } | { kind: "user"; userId: string; role: Role };

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

export class Auth {
  readonly limiter: LoginLimiter;
  private cache = new Map<string, { p: Principal; until: number }>();
  private listeners = new Set<(c: AuthChange) => void>();
  private lastUsed = new Map<string, number>();
  // compared against when the user is unknown, so timing does not reveal user names
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly audit: Audit | null = null,
    limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {
    this.limiter = new LoginLimiter(limits);
  }

  /** Hear about logouts, revocations and role changes; returns the unsubscribe. */
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
    let admin = await this.db.user.findFirst({ where: { role: "admin" }, orderBy: { createdAt: "asc" } });
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
    if (rehash) {
      await this.db.user.update({ where: { id: u.id }, data: { passwordHash: await this.hash(password) } });
      this.log.info("password hash upgraded to argon2id", { username });
    }
    const cookie = newSecret();
    await this.db.session.create({ data: { id: sha256(cookie), userId: u.id, expiresAt: new Date(Date.now() + SESSION_TTL_MS) } });
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
        if (!t || !live(t)) return this.forget(id);
        this.touch(id);
        const p: Principal = { user: { id: t.user.id, username: t.user.username, role: t.user.role as Role }, credId: id, kind: "token", expiresAt: t.expiresAt?.getTime() ?? null };
        this.remember(p);
        return p;
      }
      const s = await this.db.session.findUnique({ where: { id }, include: { user: true } });
      if (!s || s.expiresAt.getTime() <= Date.now()) return this.forget(id);
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
    return rows.map((u) => ({ username: u.username, role: u.role as Role, createdAt: u.createdAt.toISOString() }));
  }

  async addUser(actor: AuthUser, meta: RequestMeta, input: { username: string; password: string; role: Role }): Promise<UserRecord> {
    if (await this.db.user.findUnique({ where: { username: input.username } })) throw new ApiErr("conflict", `user ${input.username} already exists`);
    const u = await this.createUser(input.username, input.password, input.role);
    this.audit?.record(meta, { actor: actor.username, action: "user-create", target: u.username, ok: true, detail: { role: u.role } });
    const row = await this.db.user.findUniqueOrThrow({ where: { id: u.id } });
    return { username: u.username, role: u.role, createdAt: row.createdAt.toISOString() };
  }

  async setRole(actor: AuthUser, meta: RequestMeta, username: string, role: Role): Promise<UserRecord> {
    const u = await this.db.user.findUnique({ where: { username } });
    if (!u) throw new ApiErr("not_found", `no user ${username}`);
    if (u.role === "admin" && role !== "admin" && (await this.db.user.count({ where: { role: "admin" } })) === 1) {
      throw new ApiErr("conflict", `${username} is the last admin; make another user admin first`);
    }
    const row = await this.db.user.update({ where: { id: u.id }, data: { role } });
    for (const [id, c] of this.cache) if (c.p.user.id === u.id) this.cache.set(id, { ...c, p: { ...c.p, user: { ...c.p.user, role } } });
    this.audit?.record(meta, { actor: actor.username, action: "user-role", target: username, ok: true, detail: { from: u.role, to: role } });
    this.announce({ kind: "user", userId: u.id, role });
    return { username: row.username, role, createdAt: row.createdAt.toISOString() };
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
