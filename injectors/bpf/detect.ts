// Feature detection for the BPF and ptrace faults, once per process: is the
// helper built, are we root, is there a cgroup v2 hierarchy, does the object
// pass this kernel's verifier, and which syscall-error mechanisms the kernel
// offers (bpf_override_return needs CONFIG_BPF_KPROBE_OVERRIDE and kprobes;
// BPF LSM needs "bpf" in the active LSM list). The reasons are shown as the
// fault's unavailability and as the mechanism chosen.
import { execFile } from "node:child_process";
import fs from "node:fs";
import zlib from "node:zlib";
import { promisify } from "node:util";
import type { Availability } from "../types";
import { v2Hierarchy } from "./cgroup";
import { built, tool } from "./helper";

const run = promisify(execFile);

function common(): string | null {
  if (process.getuid?.() !== 0) return "needs root (BPF programs, cgroup moves and ptrace)";
  if (process.arch !== "x64") return `built for x86-64 only (this is ${process.arch})`;
  return null;
}

const probes = new Map<string, Promise<Availability>>();
/** Can the loader load this object here (verifier included)? Cached. */
export function bpfObjectAvailable(obj: string): Promise<Availability> {
  let p = probes.get(obj);
  if (!p) {
    p = (async (): Promise<Availability> => {
      const why = common() ?? built("gameday-bpf") ?? built(obj);
      if (why) return { ok: false, reason: why };
      if (!v2Hierarchy()) return { ok: false, reason: "no cgroup v2 hierarchy is mounted (cgroup BPF hooks attach to v2 folders)" };
      try {
        await run(tool("gameday-bpf"), ["probe", tool(obj)], { timeout: 10_000 });
        return { ok: true, detail: `${obj} passes this kernel's verifier` };
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string; message: string };
        const line = (err.stdout ?? "").trim() || err.message;
        return { ok: false, reason: `${obj} does not load here: ${line}${err.stderr ? ` (${err.stderr.trim().split("\n").slice(-3).join(" ")})` : ""}` };
      }
    })();
    probes.set(obj, p);
  }
  return p;
}

export function ptraceAvailable(): Availability {
  const why = common() ?? built("gameday-ptrace");
  if (why) return { ok: false, reason: why };
  try {
    const scope = fs.readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8").trim();
    if (scope === "3") return { ok: false, reason: "kernel.yama.ptrace_scope is 3: ptrace attach is disabled until reboot" };
  } catch {
    // no Yama: plain ptrace rules (root may attach)
  }
  return { ok: true };
}

/** The kernel's build config, from /proc/config.gz or /boot; null when neither is readable. */
function kernelConfig(): string | null {
  try {
    return zlib.gunzipSync(fs.readFileSync("/proc/config.gz")).toString();
  } catch {
    try {
      const release = fs.readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
      return fs.readFileSync(`/boot/config-${release}`, "utf8");
    } catch {
      return null;
    }
  }
}

const flag = (cfg: string, name: string) => new RegExp(`^${name}=y`, "m").test(cfg);

/** bpf_override_return on error-injectable functions: why not, or null when the kernel has it. */
export function kprobeOverrideProblem(cfg = kernelConfig(), kprobePmu = fs.existsSync("/sys/bus/event_source/devices/kprobe")): string | null {
  if (cfg !== null) {
    if (!flag(cfg, "CONFIG_KPROBES")) return "the kernel has no kprobes (CONFIG_KPROBES off), so no bpf_override_return";
    if (!flag(cfg, "CONFIG_BPF_KPROBE_OVERRIDE")) return "the kernel lacks CONFIG_BPF_KPROBE_OVERRIDE (bpf_override_return)";
    if (!flag(cfg, "CONFIG_FUNCTION_ERROR_INJECTION")) return "the kernel lacks CONFIG_FUNCTION_ERROR_INJECTION";
  }
  if (!kprobePmu) return "no kprobe event source (/sys/bus/event_source/devices/kprobe)";
  return null;
}

/** BPF LSM: built in and active? */
export function bpfLsmProblem(cfg = kernelConfig(), lsm = readLsm()): string | null {
  if (cfg !== null && !flag(cfg, "CONFIG_BPF_LSM")) return "the kernel lacks CONFIG_BPF_LSM";
  if (lsm === null) return "the active LSM list (/sys/kernel/security/lsm) is not readable (securityfs not mounted)";
  if (!lsm.split(",").includes("bpf")) return `BPF LSM is built but not active (lsm=${lsm}; boot with lsm=...,bpf)`;
  return null;
}

function readLsm(): string | null {
  try {
    return fs.readFileSync("/sys/kernel/security/lsm", "utf8").trim();
  } catch {
    return null;
  }
}
