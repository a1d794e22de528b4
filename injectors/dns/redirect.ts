// Putting the poisoner in a target's path. Two changes, both owned by the
// fault and undone exactly:
// - iptables (and ip6tables) nat OUTPUT in the target's namespace: the selected DNS queries
//   (UDP and TCP to the DNS port, optionally only from a cgroup v2 folder or
//   to one resolver address) are REDIRECTed to the poisoner, minus the
//   poisoner's own cgroup so its upstream queries go out as before. This is
//   the latency fault's no-netem path; it needs no eBPF. cgroup/connect4
//   would also catch connect()ed UDP, but not sendto() without a sendmsg4
//   program, and needs clang/bpffs at run time.
//   Docker's embedded resolver (127.0.0.11, on user-defined networks) is a
//   DNAT in the container's namespace, behind our chain: the poisoner asks
//   it (excluded by cgroup, its query takes Docker's DNAT). dockerd sends
//   what that resolver forwards from inside the container's namespace too,
//   and from outside the poisoner's cgroup: a redirect of every port-53
//   packet bent those back to the poisoner, which asked 127.0.0.11 again, in
//   a loop (every name the rules do not poison timed out). For such a
//   container the redirect takes loopback destinations only: what the
//   container's resolver sends (to 127.0.0.11, or 127.0.0.1 once resolv.conf
//   names the poisoner), not the engine's upstream queries.
// - for a named namespace, its resolv.conf (/etc/netns/NAME/resolv.conf, the
//   file `ip netns exec` bind-mounts over /etc/resolv.conf), rewritten in
//   place (same inode, so processes already running see it) to name only
//   127.0.0.1, and restored byte for byte on revert. Queries over IPv6 (a
//   resolver on ::1, with resolvConf keep) take an ip6tables chain of the
//   same rules, to the poisoner's twin on [::1] (dns.ts). For a
//   container it is the engine's file bind-mounted as its /etc/resolv.conf
//   (ResolvConfPath), rewritten the same way.
import fs from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import type { ChainPlan } from "../net/iptables";
import { cgroupMatch } from "../net/select";
import type { NetworkTarget } from "../types";
import type { Upstream } from "./rules";

export const DNS_PORT = 53;
/** Docker's embedded resolver, the nameserver of a container on a user-defined network. */
export const DOCKER_RESOLVER = "127.0.0.11";
/** What the redirect takes from a container whose resolver is Docker's embedded one. */
const LOOPBACK = "127.0.0.0/8";

/** The nat rules: UDP and TCP queries of the selection, minus the poisoner's cgroup, to its port. */
export function redirectRules(t: NetworkTarget, dnsPort: number, poisonerCgroup: string, port: string): string[][] {
  return ["udp", "tcp"].map((proto) => [
    "-p",
    proto,
    ...(t.dst ? ["-d", t.dst] : []),
    "--dport",
    String(dnsPort),
    ...cgroupMatch(t),
    "-m",
    "cgroup",
    "!",
    "--path",
    poisonerCgroup,
    "-j",
    "REDIRECT",
    "--to-ports",
    port,
  ]);
}

export function withRedirect(chain: ChainPlan, t: NetworkTarget, dnsPort: number, poisonerCgroup: string, port: number | string): ChainPlan {
  return { ...chain, rules: redirectRules(t, dnsPort, poisonerCgroup, String(port)) };
}

/** The resolv.conf a namespace's processes read: the target's own file (a container's), its /etc/netns file when there is one, else the host's. */
export function resolvConfOf(netns?: string, file?: string): { path: string; own: boolean } {
  if (file) return { path: file, own: true };
  const own = netns && !netns.startsWith("/") ? `/etc/netns/${netns}/resolv.conf` : null;
  if (own && fs.existsSync(own)) return { path: own, own: true };
  return { path: "/etc/resolv.conf", own: false };
}

/** First nameserver of a resolv.conf text, port 53. */
export function firstNameserver(text: string): Upstream | null {
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1].replace(/%.*$/, "");
    if (isIPv4(host) || isIPv6(host)) return { host, port: DNS_PORT };
  }
  return null;
}

/**
 * The destination the redirect selects: the target's dst, else loopback for a
 * container whose resolv.conf names Docker's embedded resolver (its upstream
 * queries leave the container's namespace untouched), else any.
 */
export function redirectDst(t: NetworkTarget): string | undefined {
  if (t.dst || !t.container || !t.resolvConf) return t.dst;
  let text = "";
  try {
    text = fs.readFileSync(t.resolvConf, "utf8");
  } catch {
    return undefined;
  }
  return firstNameserver(text)?.host === DOCKER_RESOLVER ? LOOPBACK : undefined;
}

/** The upstream the namespace's processes would have asked: its resolv.conf's first nameserver. */
export function defaultUpstream(netns?: string, resolvConf?: string): Upstream {
  const { path: file } = resolvConfOf(netns, resolvConf);
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`params.upstream: not given, and ${file} cannot be read (${(e as Error).message}); name the resolver to forward to`);
  }
  const ns = firstNameserver(text);
  if (!ns) throw new Error(`params.upstream: not given, and ${file} names no nameserver; name the resolver to forward to`);
  return ns;
}

export interface ResolvChange {
  path: string;
  /** the file as it was, base64 (restored byte for byte) */
  before: string;
  /** what the fault writes */
  after: string;
}

/** The rewrite of a namespace's own resolv.conf: every nameserver line becomes one `nameserver 127.0.0.1`; the rest stays. */
export function planResolv(netns: string | undefined, tag: string, resolvConf?: string): ResolvChange | null {
  const { path: file, own } = resolvConfOf(netns, resolvConf);
  if (!own) return null;
  const before = fs.readFileSync(file);
  const out: string[] = [`# gameday:${tag} dns poisoner: nameservers replaced until the fault is reverted`];
  let put = false;
  for (const line of before.toString("utf8").split("\n")) {
    if (/^\s*nameserver\s/.test(line)) {
      if (!put) out.push("nameserver 127.0.0.1");
      put = true;
    } else out.push(line);
  }
  if (!put) out.splice(1, 0, "nameserver 127.0.0.1");
  return { path: file, before: before.toString("base64"), after: out.join("\n") };
}

/** Write in place (truncate, same inode): a bind mount of the file keeps showing it. */
function writeInPlace(file: string, data: Buffer | string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW);
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function applyResolv(c: ResolvChange): void {
  const now = fs.readFileSync(c.path);
  if (!now.equals(Buffer.from(c.before, "base64"))) throw new Error(`${c.path} changed since the fault was planned; not rewriting it`);
  writeInPlace(c.path, c.after);
}

/** Put the file back when it still holds what we wrote; anything else (already restored, gone, someone else's edit) is left alone. */
export function revertResolv(c: ResolvChange): void {
  let now: Buffer;
  try {
    now = fs.readFileSync(c.path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (now.equals(Buffer.from(c.after))) writeInPlace(c.path, Buffer.from(c.before, "base64"));
}

/** null when the file reads as before; else what is wrong. */
export function resolvProblem(c: ResolvChange): string | null {
  let now: Buffer;
  try {
    now = fs.readFileSync(c.path);
  } catch {
    return `${c.path} is gone (it held the namespace's resolver before the fault)`;
  }
  if (now.equals(Buffer.from(c.before, "base64"))) return null;
  if (now.equals(Buffer.from(c.after))) return `${c.path} still names the poisoner`;
  return `${c.path} was changed by someone else while the fault held it; left as it is`;
}
