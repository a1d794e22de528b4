// netem detection: whether sch_netem works on this host.
import { runCmd, shortTag } from "./cmd";

let netemCache: { ok: boolean; detail: string } | null = null;

/**
 * Is sch_netem usable? Tried for real on lo of a throwaway namespace (a
 * module list can lie: built-in, not loadable, blocked), once per process.
 */
export function detectNetem(refresh = false): { ok: boolean; detail: string } {
  if (netemCache && !refresh) return netemCache;
  const ns = `gd-probe-${process.pid}-${shortTag()}`;
  const add = runCmd({ argv: ["ip", "netns", "add", ns] });
  if (add.code !== 0) return (netemCache = { ok: false, detail: `cannot create a network namespace to probe netem: ${add.stderr.trim()}` });
  try {
    const r = runCmd({ netns: ns, argv: ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"] });
    netemCache = r.code === 0 ? { ok: true, detail: "sch_netem works (probed in a throwaway namespace)" } : { ok: false, detail: `no sch_netem: ${r.stderr.trim() || `tc exit ${r.code}`}` };
  } finally {
    runCmd({ argv: ["ip", "netns", "del", ns] });
  }
  return netemCache;
}
