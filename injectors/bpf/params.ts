// Parameters the BPF faults share: the dice, "after N calls", destinations
// and ports. Each error names its field.
import { isIP } from "node:net";
import { z } from "zod";

export const probability = z
  .number({ error: "expected a probability between 0 and 1" })
  .min(0, { error: "must be between 0 and 1" })
  .max(1, { error: "must be between 0 and 1" })
  .default(1);

/** matching calls let through before the first failure ("from the 3rd call on" is after: 2) */
export const after = z.number({ error: "expected a count of calls" }).int({ error: "expected a whole number" }).min(0).max(1e12).default(0);

const cidr = z.string().refine(
  (s) => {
    const [addr, bits, extra] = s.split("/");
    const v = isIP(addr);
    if (!v || extra !== undefined) return false;
    if (bits === undefined) return true;
    return /^\d+$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128);
  },
  { error: "expected an IPv4 or IPv6 address, optionally /prefix" },
);
const one = <T extends z.ZodTypeAny>(t: T, max: number) =>
  z.union([t, z.array(t).min(1).max(max, { error: `at most ${max}` })]).transform((v) => (Array.isArray(v) ? v : [v]) as z.infer<T>[]);

/** the programs hold at most 8 of each (bpf/gameday.h) */
export const dsts = one(cidr, 8).optional();
export const ports = one(z.number({ error: "expected a port number" }).int().min(1, { error: "ports are 1-65535" }).max(65535, { error: "ports are 1-65535" }), 8).optional();

export const protocol = z.enum(["tcp", "udp", "all"], { error: "expected tcp, udp or all" }).default("tcp");
export const PROTO_BITS = { tcp: 1, udp: 2, all: 3 } as const;

/** key=value arguments of the loader (bpf/loader.c) for the shared filters */
export function filterArgs(p: { probability: number; after: number; dst?: string[]; port?: number[]; protocol: keyof typeof PROTO_BITS }): string[] {
  return [
    `ppm=${Math.round(p.probability * 1e6)}`,
    `after=${p.after}`,
    `proto=${PROTO_BITS[p.protocol]}`,
    ...(p.dst ?? []).map((d) => `dst=${d}`),
    ...(p.port ?? []).map((n) => `port=${n}`),
  ];
}

export function filterText(p: { dst?: string[]; port?: number[]; protocol: string; probability: number; after: number }): string {
  const parts = [p.protocol];
  if (p.dst) parts.push(`to ${p.dst.join(", ")}`);
  if (p.port) parts.push(`port ${p.port.join(", ")}`);
  if (p.probability < 1) parts.push(`p=${p.probability}`);
  if (p.after) parts.push(`after ${p.after} call(s)`);
  return parts.join(" ");
}

/** process: move the target into a cgroup of its own (its new sockets); cgroup: attach to its cgroup in place (every socket in it) */
export const scope = z.enum(["process", "cgroup"], { error: "expected process or cgroup" }).default("process");
