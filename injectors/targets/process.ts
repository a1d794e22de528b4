// Processes: a topology node or a process selector to the live processes it
// matches, each identified by PID plus start time, minus the protected ones.
import path from "node:path";
import type { TargetSpec } from "../../lib/experiment";
import { listProcesses, protectionContext, protectionReason, readCgroupText, uidOf, type ProcInfo } from "../../lib/procfs";
import type { ProcessSelector, Topology } from "../../lib/topology";
import type { ProcessTarget } from "../types";
import { registerTargetKind } from "./registry";

export interface Resolution {
  selector: string;
  matched: ProcessTarget[];
  /** processes that matched but are never allowed as targets, with why */
  protected: { pid: number; comm: string; reason: string }[];
}

export function selectorFor(spec: TargetSpec, topology: Topology | null): { selector: ProcessSelector; node?: string } {
  if (spec.process) return { selector: spec.process };
  const node = topology?.spec.nodes.find((n) => n.id === spec.node);
  if (!node) throw new Error(`unknown topology node "${spec.node}"`);
  if (!node.selector?.process) throw new Error(`topology node "${node.id}" has no process selector`);
  return { selector: node.selector.process, node: node.id };
}

export function describeSelector(sel: ProcessSelector): string {
  const parts: string[] = [];
  if (sel.name) parts.push(`name=${sel.name}`);
  if (sel.program) parts.push(`program=${sel.program}`);
  if (sel.cmdline) parts.push(`cmdline=~/${sel.cmdline}/`);
  if (sel.user !== undefined) parts.push(`user=${sel.user}`);
  if (sel.cgroup) parts.push(`cgroup=~/${sel.cgroup}/`);
  if (sel.pids) parts.push(`pids=${sel.pids.join(",")}`);
  return parts.join(" ");
}

const INTERPRETERS = /^(node|nodejs|python[0-9.]*|ruby|perl|java|bash|sh|dash)$/;

/** Does the process run this program (see processSelectorSchema.program)? */
export function runsProgram(p: ProcInfo, program: string): boolean {
  if (p.comm === program) return true;
  const argv = p.cmdline.split(" ");
  const exe = path.basename(argv[0] ?? "");
  if (exe === program) return true;
  if (!INTERPRETERS.test(exe)) return false;
  // first argument that is not an option: the script
  const script = argv.slice(1).find((a) => a && !a.startsWith("-"));
  if (!script) return false;
  const base = path.basename(script);
  return base === program || base.replace(/\.[^.]+$/, "") === program;
}

/** A compiled selector: regexes built once, the user name resolved once. */
export interface ProcessMatcher {
  (p: ProcInfo): boolean;
}

export function compileSelector(sel: ProcessSelector): ProcessMatcher {
  const re = sel.cmdline ? new RegExp(sel.cmdline) : null;
  const cg = sel.cgroup ? new RegExp(sel.cgroup, "m") : null;
  const uid = sel.user === undefined ? undefined : uidOf(sel.user);
  return (p) => {
    if (sel.pids && !sel.pids.includes(p.pid)) return false;
    if (sel.name && p.comm !== sel.name) return false;
    if (sel.program && !runsProgram(p, sel.program)) return false;
    if (uid !== undefined && p.uid !== uid) return false;
    if (re && !re.test(p.cmdline)) return false;
    if (cg && !cg.test(readCgroupText(p.pid))) return false;
    return true;
  };
}

export function resolveProcesses(sel: ProcessSelector, extraProtected: ReadonlySet<number> = new Set()): Resolution {
  const matches = compileSelector(sel);
  const out: Resolution = { selector: describeSelector(sel), matched: [], protected: [] };
  const ctx = protectionContext();
  for (const p of listProcesses()) {
    if (p.state === "Z" || p.state === "X") continue;
    if (!matches(p)) continue;
    const why = protectionReason(p, extraProtected, ctx);
    if (why) {
      out.protected.push({ pid: p.pid, comm: p.comm, reason: why });
      continue;
    }
    out.matched.push({ kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline });
  }
  out.matched.sort((a, b) => a.pid - b.pid);
  return out;
}

registerTargetKind({
  kind: "process",
  title: "process",
  selectors: ["node", "process"],
  example: { process: { program: "my-service" } },
  nodePath: ["node"],
  id: (t) => `pid:${t.pid}@${t.startTime}`,
  label: (t) => `${t.comm}[${t.pid}]`,
  resolve(spec, ctx) {
    const { selector, node } = selectorFor(spec, ctx.topology);
    return { ...resolveProcesses(selector, ctx.extraProtected), node };
  },
});
