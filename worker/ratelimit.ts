// Login throttling. A password check costs ~25 ms of a core and 19 MiB (argon2),
// so unlimited logins would let anyone who reaches the port guess passwords
// and crowd out the monitor. Three limits, checked before any hashing:
// attempts per client address, failures per user name (so guessing one
// account from many addresses stalls too), and checks in flight (so a flood
// from many addresses queues a little and is then turned away, instead of
// filling the thread pool the journal's file writes also use).
export interface LoginLimits {
  /** attempts per address per window */
  perAddress: number;
  addressWindowMs: number;
  /** failed attempts per user name per window */
  perUser: number;
  userWindowMs: number;
  /** password checks running at once, and waiting beyond those */
  concurrent: number;
  queued: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perAddress: 10,
  addressWindowMs: 60_000,
  perUser: 5,
  userWindowMs: 15 * 60_000,
  concurrent: 1,
  queued: 4,
};

/** Keys kept per table at most: a flood of made-up names must not grow memory without bound. */
const MAX_KEYS = 10_000;

export interface Refusal {
  retryAfterSec: number;
  reason: string;
  /** the first refusal of this address or name in a minute: worth an audit line (a flood is not worth one per request) */
  first: boolean;
}

const REFUSAL_NOTE_MS = 60_000;

/** Timestamps per key within a sliding window. */
class Window {
  private hits = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length) this.hits.set(key, list);
    else this.hits.delete(key);
    return list;
  }

  /** Seconds until the key may try again, or 0. */
  wait(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    return list.length < this.max ? 0 : Math.max(1, Math.ceil((list[0] + this.windowMs - now) / 1000));
  }

  add(key: string, now = Date.now()): void {
    const list = this.recent(key, now);
    list.push(now);
    this.hits.delete(key); // re-insert: Map order is the eviction order
    this.hits.set(key, list);
    if (this.hits.size > MAX_KEYS) this.hits.delete(this.hits.keys().next().value!);
  }

  clear(key: string): void {
    this.hits.delete(key);
  }
}

export class LoginLimiter {
  private readonly addresses: Window;
  private readonly users: Window;
  private running = 0;
  private waiting: (() => void)[] = [];
  private noted = new Window(1, REFUSAL_NOTE_MS);

  constructor(private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS) {
    this.addresses = new Window(limits.perAddress, limits.addressWindowMs);
    this.users = new Window(limits.perUser, limits.userWindowMs);
  }

  /** Refuse before any work, or count the attempt against the address. */
  admit(address: string, username: string): Refusal | null {
    const refuse = (key: string, retryAfterSec: number, reason: string): Refusal => {
      const first = !this.noted.wait(key);
      if (first) this.noted.add(key);
      return { retryAfterSec, reason, first };
    };
    const a = this.addresses.wait(address);
    if (a) return refuse(`a:${address}`, a, `too many login attempts from ${address}; try again in ${a} s`);
    const u = this.users.wait(username.toLowerCase());
    if (u) return refuse(`u:${username.toLowerCase()}`, u, `too many failed logins for ${username}; try again in ${u} s`);
    if (this.running >= this.limits.concurrent && this.waiting.length >= this.limits.queued) {
      return refuse("busy", 1, "too many logins at once; try again in 1 s");
    }
    this.addresses.add(address);
    return null;
  }

  failed(username: string): void {
    this.users.add(username.toLowerCase());
  }

  succeeded(username: string): void {
    this.users.clear(username.toLowerCase());
  }

  /** Run a password check within the concurrency limit. */
  async hashing<T>(fn: () => Promise<T>): Promise<T> {
    // a finishing check hands its slot straight to the next in line
    if (this.running >= this.limits.concurrent) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
