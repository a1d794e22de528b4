// Users, browser sessions and API tokens. Passwords are bcrypt hashes; session
// cookies and API tokens are random 32-byte values of which only the SHA-256
// is stored. Verified credentials are cached in memory so HALT still works
// when the database is unreachable.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import bcrypt from "bcryptjs";
import type { Db } from "../lib/db";
import { ROLES, type Role, type UserInfo } from "../lib/contract";
import { config } from "../lib/config";
import { cliConfigPath } from "../lib/paths";
import type { Logger } from "../lib/log";

export interface AuthUser extends UserInfo {
  id: string;
}

const SESSION_TTL_MS = 12 * 3_600_000;
const CACHE_TTL_MS = 10 * 60_000;
const BCRYPT_ROUNDS = 11;
// compared against when the user is unknown, so timing does not reveal user names
let dummyHash: Promise<string> | null = null;

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

export class Auth {
  private cache = new Map<string, { user: AuthUser; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

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
      admin = await this.db.user.create({
        data: { id: crypto.randomUUID(), username, passwordHash: await bcrypt.hash(password, BCRYPT_ROUNDS), role: "admin" },
      });
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
    if (!token || !(await this.db.apiToken.findUnique({ where: { id: sha256(token) } }))) {
      token = newSecret();
      await this.db.apiToken.create({ data: { id: sha256(token), name: "local-cli", userId: adminId } });
    }
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ url, token } satisfies CliConfig, null, 2) + "\n", { mode: 0o600 });
    fs.renameSync(tmp, file);
    fs.chmodSync(file, 0o600);
    const user = await this.db.user.findUnique({ where: { id: adminId } });
    if (user) this.remember(sha256(token), { id: user.id, username: user.username, role: user.role as Role });
  }

  async createUser(username: string, password: string, role: Role): Promise<AuthUser> {
    const u = await this.db.user.create({
      data: { id: crypto.randomUUID(), username, passwordHash: await bcrypt.hash(password, BCRYPT_ROUNDS), role },
    });
    return { id: u.id, username: u.username, role };
  }

  async createToken(userId: string, name: string): Promise<string> {
    const token = newSecret();
    await this.db.apiToken.create({ data: { id: sha256(token), name, userId } });
    return token;
  }

  /** Password login → session cookie value, or null. */
  async login(username: string, password: string): Promise<{ cookie: string; user: AuthUser; maxAgeSec: number } | null> {
    const u = await this.db.user.findUnique({ where: { username } });
    dummyHash ??= bcrypt.hash(newSecret(), BCRYPT_ROUNDS);
    const ok = await bcrypt.compare(password, u?.passwordHash ?? (await dummyHash));
    if (!u || !ok) return null;
    const cookie = newSecret();
    await this.db.session.create({ data: { id: sha256(cookie), userId: u.id, expiresAt: new Date(Date.now() + SESSION_TTL_MS) } });
    const user = { id: u.id, username: u.username, role: u.role as Role };
    return { cookie, user, maxAgeSec: SESSION_TTL_MS / 1000 };
  }

  async logout(cookie: string): Promise<void> {
    const id = sha256(cookie);
    this.cache.delete(id);
    await this.db.session.deleteMany({ where: { id } });
  }

  private remember(id: string, user: AuthUser): void {
    this.cache.set(id, { user, until: Date.now() + CACHE_TTL_MS });
  }

  /** Resolve a bearer token or session cookie to its user, or null. */
  async verify(secret: { bearer?: string; cookie?: string }): Promise<AuthUser | null> {
    const raw = secret.bearer || secret.cookie;
    if (!raw) return null;
    const id = sha256(raw);
    const hit = this.cache.get(id);
    try {
      if (secret.bearer) {
        const t = await this.db.apiToken.findUnique({ where: { id }, include: { user: true } });
        if (!t) return this.forget(id);
        const user = { id: t.user.id, username: t.user.username, role: t.user.role as Role };
        this.remember(id, user);
        return user;
      }
      const s = await this.db.session.findUnique({ where: { id }, include: { user: true } });
      if (!s || s.expiresAt.getTime() < Date.now()) return this.forget(id);
      const user = { id: s.user.id, username: s.user.username, role: s.user.role as Role };
      this.remember(id, user);
      return user;
    } catch (e) {
      // database unreachable: fall back to credentials verified recently
      this.log.warn("auth database lookup failed; using cached credentials", { error: (e as Error).message });
      return hit && hit.until > Date.now() ? hit.user : null;
    }
  }

  private forget(id: string): null {
    this.cache.delete(id);
    return null;
  }
}

export function readCliConfig(): CliConfig | null {
  try {
    return JSON.parse(fs.readFileSync(cliConfigPath(), "utf8")) as CliConfig;
  } catch {
    return null;
  }
}
