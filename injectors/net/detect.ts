// netem detection: whether sch_netem works on this host. It is tried for real
// (a module list can lie: built-in, not loadable, blocked), which creates and
// deletes a throwaway network namespace: a change to the host, so it belongs
// in available(), not in plan(). The result is kept per process as a promise,
// so concurrent callers share one probe. A process killed mid-probe leaves its
// namespace behind: the next probe on the host removes it (its PID is gone).
import fs from "node:fs";
import { runCmd, shortTag } from "./cmd";

export interface NetemDetection {
  ok: boolean;
  detail: string;
}

let netemCache: Promise<NetemDetection> | null = null;

/**
 * Is sch_netem usable? Tried on lo of a throwaway namespace, once per process
 * (refresh: probe again). The network faults' available() runs it; a plan()
 * reached without available() awaits the same cached probe.
 */
export function detectNetem(refresh = false): Promise<NetemDetection> {
  if (!netemCache || refresh) netemCache = probeNetem();
  return netemCache;
}

/** A probe namespace's name: gd-probe-<prober's PID>-<hex> (the test sweep matches it too). */
export const PROBE_NS = /^gd-probe-(\d+)-[0-9a-f]+$/;

/** Probe namespaces whose prober died before deleting them; removed. */
export async function sweepDeadProbes(): Promise<string[]> {
  const list = await runCmd({ argv: ["ip", "netns", "list"] });
  const gone: string[] = [];
  for (const name of list.stdout.split("\n").map((l) => l.trim().split(/\s/)[0])) {
    const m = PROBE_NS.exec(name ?? "");
    if (!m || fs.existsSync(`/proc/${m[1]}`)) continue;
    if ((await runCmd({ argv: ["ip", "netns", "del", name] })).code === 0) gone.push(name);
  }
  return gone;
}

async function probeNetem(): Promise<NetemDetection> {
  await sweepDeadProbes();
  const ns = `gd-probe-${process.pid}-${shortTag()}`;
  const add = await runCmd({ argv: ["ip", "netns", "add", ns] });
  if (add.code !== 0) return { ok: false, detail: `cannot create a network namespace to probe netem: ${add.stderr.trim()}` };
  try {
    const r = await runCmd({ netns: ns, argv: ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"] });
    return r.code === 0 ? { ok: true, detail: "sch_netem works (probed in a throwaway namespace)" } : { ok: false, detail: `no sch_netem: ${r.stderr.trim() || `tc exit ${r.code}`}` };
  } finally {
    await runCmd({ argv: ["ip", "netns", "del", ns] });
  }
}
