// The worker's HTTP face: the route table of routes.ts over HTTP, socket.io
// for live state and commands. Before any handler runs: a request that
// carries the session cookie must come from a trusted page (lib/origin.ts) —
// any foreign Origin is a 403, and so is a mutation without one — and the
// route's role must be met. Open sockets follow their credential: a logout,
// a revoked token, an expired session, a session ended by a password change
// or a disabled user disconnects them, a role change applies to their next
// command at once.
import http from "node:http";
import type { Duplex } from "node:stream";
import { Server as IoServer, type Socket } from "socket.io";
import { API, type ClientToServerEvents, type CommandResult, type ServerToClientEvents } from "../lib/contract";
import { ApiErr } from "../lib/errors";
import { checkOrigin, isMutation, trustedOrigins } from "../lib/origin";
import type { RequestMeta } from "./audit";
import { roleAtLeast, type AuthChange, type Principal } from "./auth";
import { credentials, requestMeta, SECURITY_HEADERS, send } from "./http";
import { ROUTES, SOCKET_COMMANDS, WORKER_VERSION, type CommandName, type Route, type ServerDeps } from "./routes";

export { WORKER_VERSION, listExamples, type ServerDeps } from "./routes";

type Io = IoServer<ClientToServerEvents, ServerToClientEvents>;
type Client = Socket<ClientToServerEvents, ServerToClientEvents>;

/** setTimeout's ceiling; a later expiry is re-armed when it fires */
const MAX_TIMER_MS = 2 ** 31 - 1;

function compile(r: Route): { route: Route; re: RegExp; names: string[] } {
  const names: string[] = [];
  const re = r.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)/g, (_m, n: string) => (names.push(n), "([\\w.-]+)"));
  return { route: r, re: new RegExp(`^${re}$`), names };
}

/**
 * The origin rule of every request: a session cookie from a foreign page is
 * refused whatever the method; a mutation by cookie must name its page; a
 * login from a foreign page is refused too (it would plant the attacker's
 * session in the victim's browser).
 */
export function originVerdict(method: string | undefined, pathname: string, headers: http.IncomingHttpHeaders): string | null {
  const creds = credentials(headers);
  const origin = typeof headers.origin === "string" ? headers.origin : null;
  const byCookie = !creds.bearer && Boolean(creds.cookie);
  if (!byCookie && !(pathname === API.login && origin)) return null;
  if (!origin && !isMutation(method)) return null;
  const v = checkOrigin(origin);
  return v.ok ? null : v.reason;
}

export function createServer(d: ServerDeps): { server: http.Server; io: Io } {
  const { auth, log, engine } = d;
  const table = ROUTES.map(compile);

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://worker.local");
      const meta = requestMeta(req);
      try {
        const refused = originVerdict(req.method, url.pathname, req.headers);
        if (refused) throw new ApiErr("forbidden", refused);
        let pathMatched = false;
        for (const { route, re, names } of table) {
          const m = re.exec(url.pathname);
          if (!m) continue;
          pathMatched = true;
          if (route.method !== req.method) continue;
          let principal: Principal | null = null;
          if (route.role) {
            principal = await auth.verify(credentials(req.headers));
            if (!principal) throw new ApiErr("unauthenticated", "log in or send an API token (Authorization: Bearer ...)");
            const u = principal.user;
            if (!roleAtLeast(u.role, route.role)) throw new ApiErr("forbidden", `this needs the ${route.role} role; ${u.username} is ${u.role}`);
          }
          const params = Object.fromEntries(names.map((n, i) => [n, m[i + 1]]));
          // public routes (no role) get an anonymous user they must not rely on
          await route.handler({ req, res, principal, user: principal?.user ?? { id: "", username: "anonymous", role: "viewer" }, params, url, meta }, d);
          return;
        }
        throw pathMatched ? new ApiErr("not_found", `${req.method} not allowed on ${url.pathname}`) : new ApiErr("not_found", `no route ${url.pathname}`);
      } catch (e) {
        if (e instanceof ApiErr) return send(res, e.status, e.body(), e.headers);
        log.error("request failed", { path: url.pathname, error: e as Error });
        send(res, 500, { error: "internal error", code: "internal" });
      }
    })();
  });

  const handshakeVerdict = (req: http.IncomingMessage) => originVerdict("POST", "/socket.io/", req.headers);
  const io: Io = new IoServer(server, {
    cors: { origin: trustedOrigins(), credentials: true },
    serveClient: false,
    // the polling transport's handshake; engine.io answers 403
    allowRequest: (req, cb) => {
      const refused = handshakeVerdict(req);
      cb(refused, !refused);
    },
  });
  d.broadcast = (event, ...args) => io.emit(event, ...args);
  // socket.io's own HTTP answers (polling) carry the same headers as ours
  io.engine.on("headers", (headers: Record<string, string>) => Object.assign(headers, SECURITY_HEADERS));
  // engine.io answers a refused WebSocket upgrade with a 400 and no reason:
  // check the origin first and say 403, then hand over.
  const upgrades = server.listeners("upgrade") as ((req: http.IncomingMessage, socket: Duplex, head: Buffer) => void)[];
  server.removeAllListeners("upgrade");
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const refused = handshakeVerdict(req);
    if (!refused) return upgrades.forEach((l) => l.call(server, req, socket, head));
    const body = JSON.stringify({ error: refused, code: "forbidden" });
    const headers = Object.entries(SECURITY_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.on("error", () => undefined);
    socket.end(`HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: application/json\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });

  io.use((socket, next) => {
    const token = typeof socket.handshake.auth?.token === "string" ? socket.handshake.auth.token : undefined;
    const creds = token ? { bearer: token } : credentials(socket.handshake.headers);
    auth
      .verify(creds)
      .then((p) => {
        if (!p) return next(new Error("unauthenticated"));
        socket.data.principal = p;
        socket.data.meta = requestMeta(socket.request);
        next();
      })
      .catch((e: Error) => next(e));
  });

  // open sockets by credential and by user, so a change reaches them at once
  const byCred = new Map<string, Set<Client>>();
  const byUser = new Map<string, Set<Client>>();
  const add = (m: Map<string, Set<Client>>, k: string, s: Client) => (m.get(k) ?? m.set(k, new Set()).get(k)!).add(s);
  const drop = (m: Map<string, Set<Client>>, k: string, s: Client) => {
    m.get(k)?.delete(s);
    if (!m.get(k)?.size) m.delete(k);
  };
  const hello = (s: Client) => {
    const p = s.data.principal as Principal;
    s.emit("hello", { user: { username: p.user.username, role: p.user.role }, activeRunId: engine.activeRunId(), workerVersion: WORKER_VERSION });
  };
  const unsubscribe = auth.onChange((c: AuthChange) => {
    if (c.kind === "revoked") {
      for (const id of c.credIds) for (const s of [...(byCred.get(id) ?? [])]) s.disconnect(true);
      return;
    }
    if (c.kind === "disabled") {
      for (const s of [...(byUser.get(c.userId) ?? [])]) s.disconnect(true);
      return;
    }
    for (const s of byUser.get(c.userId) ?? []) {
      const p = s.data.principal as Principal;
      s.data.principal = { ...p, user: { ...p.user, role: c.role } };
      hello(s);
    }
  });
  io.engine.on("close", unsubscribe);
  server.on("close", unsubscribe);

  const expired = (p: Principal) => p.expiresAt !== null && p.expiresAt <= Date.now();

  const guard = async <T extends object>(socket: Client, name: CommandName, cmd: unknown): Promise<CommandResult<T>> => {
    const p = socket.data.principal as Principal;
    const c = SOCKET_COMMANDS[name];
    try {
      if (expired(p)) {
        setImmediate(() => socket.disconnect(true));
        throw new ApiErr("unauthenticated", "your session has expired; log in again");
      }
      if (!roleAtLeast(p.user.role, c.role)) throw new ApiErr("forbidden", `this needs the ${c.role} role; ${p.user.username} is ${p.user.role}`);
      const body = cmd && typeof cmd === "object" ? (cmd as Record<string, unknown>) : {};
      return { ok: true, ...((await c.run(body, p.user, socket.data.meta as RequestMeta, d)) as T) };
    } catch (e) {
      if (e instanceof ApiErr) return { ok: false, ...e.body() };
      log.error("socket command failed", { command: name, error: e as Error });
      return { ok: false, error: "internal error", code: "internal" };
    }
  };

  io.on("connection", (socket) => {
    const p = socket.data.principal as Principal;
    add(byCred, p.credId, socket);
    add(byUser, p.user.id, socket);
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (p.expiresAt === null) return;
      timer = setTimeout(() => (expired(p) ? socket.disconnect(true) : arm()), Math.min(Math.max(p.expiresAt - Date.now(), 0), MAX_TIMER_MS));
      timer.unref();
    };
    arm();
    socket.on("disconnect", () => {
      clearTimeout(timer);
      drop(byCred, p.credId, socket);
      drop(byUser, p.user.id, socket);
    });
    hello(socket);
    if (d.graph) socket.emit("graph:state", d.graph.state());
    for (const name of Object.keys(SOCKET_COMMANDS) as CommandName[]) {
      socket.on(name, (cmd: unknown, cb: unknown) => {
        const ack = typeof cb === "function" ? (cb as (r: CommandResult) => void) : () => undefined;
        void guard(socket, name, cmd).then(ack);
      });
    }
  });

  return { server, io };
}
