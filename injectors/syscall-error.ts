// syscall-error: chosen system calls of a running process fail with an errno
// (EIO on read, ENOSPC on write, EACCES on openat, ...), with a probability,
// from the Nth matching call on, optionally only on paths matching a glob.
// Two mechanisms, chosen by detection unless the experiment forces one:
// - kprobe-override (bpf/override.bpf.c): a kprobe on __x64_sys_<name> that
//   calls bpf_override_return for the target's calls only. Nothing stops the
//   process; needs CONFIG_KPROBES + CONFIG_BPF_KPROBE_OVERRIDE, which this
//   machine lacks, and cannot match paths;
// - ptrace (bpf/ptrace.c): works on any kernel.
// Either helper holds the fault for as long as it lives: revert stops it, and
// if it dies the kernel drops the kprobes / detaches the tracer, so the process
// runs on as before. BPF LSM is detected and reported too (it would need a
// hook per operation and an active BPF LSM; this build has no program for it).
import fs from "node:fs";
import { z } from "zod";
import { sameProcess, protectionReason } from "../lib/procfs";
import { errnoParam, ERRNOS, syscallParam, syscallTable } from "./bpf/errno";
import { bpfLsmProblem, bpfObjectAvailable, kprobeOverrideProblem, ptraceAvailable } from "./bpf/detect";
import { evidenceText, helperEffect, helperPids, newHelperTag, startHelper, stopHelper, tool } from "./bpf/helper";
import { after, probability } from "./bpf/params";
import { register } from "./registry";
import type { Availability, Injector, ProcessTarget } from "./types";

export const syscallErrorParams = z
  .object({
    syscall: z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v])).pipe(syscallParam).meta({ examples: ["read"] }),
    errno: errnoParam("EIO"),
    probability,
    /** matching calls let through first: 2 = from the 3rd call on */
    after,
    /** only calls on a path matching this glob (fnmatch): the path argument, or the file an fd argument names (ptrace only) */
    path: z.string().min(1).max(1024).regex(/^\//, { error: "expected an absolute path glob like /var/lib/db/*" }).optional(),
    mechanism: z.enum(["auto", "ptrace", "kprobe-override"], { error: "expected auto, ptrace or kprobe-override" }).default("auto"),
  })
  .strict();
export type SyscallErrorParams = z.infer<typeof syscallErrorParams>;

type Mechanism = "ptrace" | "kprobe-override";

interface SyscallErrorUndo {
  tag: string;
  pid: number;
  startTime: number;
  use: Mechanism;
  /** the mechanism and why, for the run record */
  mechanism: string;
  numbers: number[];
}

/** Can bpf_override_return work here: the kernel config, then the verifier's word on override.bpf.o. */
export async function kprobeOverrideAvailable(): Promise<Availability> {
  const why = kprobeOverrideProblem();
  if (why) return { ok: false, reason: why };
  return bpfObjectAvailable("override.bpf.o");
}

/** The mechanism to use, and the words for the run record (why the others were passed over). */
export async function chooseMechanism(p: Pick<SyscallErrorParams, "mechanism" | "path">, detected?: Availability): Promise<{ use: Mechanism; text: string }> {
  const override = detected ?? (await kprobeOverrideAvailable());
  const lsm = `BPF LSM: ${bpfLsmProblem() ?? "active, but this build has no LSM program"}`;
  if (p.mechanism === "kprobe-override") {
    if (!override.ok) throw new Error(`mechanism: kprobe-override was asked for, but ${override.reason}`);
    if (p.path) throw new Error("path: kprobe-override cannot match paths (the arguments sit behind the syscall wrapper); use mechanism: ptrace");
    return { use: "kprobe-override", text: "kprobe-override (bpf_override_return on __x64_sys_*, asked for)" };
  }
  if (p.mechanism === "auto" && override.ok && !p.path) return { use: "kprobe-override", text: `kprobe-override (auto: bpf_override_return available; ${lsm})` };
  const why = p.mechanism === "ptrace" ? "asked for" : override.ok ? "auto: a path glob needs ptrace" : `auto: bpf_override_return: ${override.reason}`;
  return { use: "ptrace", text: `ptrace (${why}; ${lsm})` };
}

function tracerPid(pid: number): number | null {
  try {
    const m = /^TracerPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function helperArgs(target: ProcessTarget, p: SyscallErrorParams, undo: SyscallErrorUndo): [string, string[]] {
  const err = String(ERRNOS[p.errno]);
  const ppm = String(Math.round(p.probability * 1e6));
  if (undo.use === "kprobe-override")
    return ["gameday-bpf", ["run", tool("override.bpf.o"), "-", "gd_override", `err=${err}`, `ppm=${ppm}`, `after=${p.after}`, `tgid=${target.pid}`, ...p.syscall.map((n) => `fn=__x64_sys_${n}`)]];
  return ["gameday-ptrace", [String(target.pid), undo.numbers.join(","), err, ppm, String(p.after), p.path ?? ""]];
}

export const syscallError: Injector<SyscallErrorParams, SyscallErrorUndo, ProcessTarget> = {
  name: "syscall-error",
  description: "Make chosen syscalls of a running process (read, write, openat, fsync, connect, any by name) fail with an errno, by probability, from the Nth call, on paths matching a glob (bpf_override_return where the kernel has it, else ptrace).",
  family: "bpf",
  targetKind: "process",
  params: syscallErrorParams,
  async available() {
    const o = await kprobeOverrideAvailable();
    return o.ok ? { ok: true, detail: "kprobe-override and ptrace" } : ptraceAvailable();
  },
  async plan(target, p) {
    const t = syscallTable();
    const m = await chooseMechanism(p);
    return { tag: newHelperTag("syscall-error"), pid: target.pid, startTime: target.startTime, use: m.use, mechanism: m.text, numbers: p.syscall.map((n) => t[n]) };
  },
  async inject(target, p, { undo, signal }) {
    const proc = sameProcess(target.pid, target.startTime);
    if (!proc) throw new Error(`process ${target.pid} is gone or its PID was reused; nothing injected`);
    const why = protectionReason(proc);
    if (why) throw new Error(`refusing to inject into PID ${target.pid}: ${why}`);
    if (undo.use === "ptrace") {
      const other = tracerPid(target.pid);
      if (other) throw new Error(`PID ${target.pid} is already traced by PID ${other} (a debugger or another fault)`);
    }
    const [helper, args] = helperArgs(target, p, undo);
    await startHelper(helper, args, undo.tag, signal);
  },
  async revert(_target, undo) {
    await stopHelper(undo.tag);
  },
  async verify(_target, undo) {
    const left = helperPids(undo.tag);
    const what = undo.use === "ptrace" ? "tracer" : "kprobe loader";
    if (left.length) return { ok: false, detail: `${what} ${left.join(", ")} still runs` };
    const alive = sameProcess(undo.pid, undo.startTime);
    const tp = alive && undo.use === "ptrace" ? tracerPid(undo.pid) : 0;
    if (tp) return { ok: false, detail: `PID ${undo.pid} is still traced by PID ${tp}` };
    const state = !alive ? `PID ${undo.pid} has exited` : undo.use === "ptrace" ? `PID ${undo.pid} runs untraced, TracerPid 0` : `PID ${undo.pid} runs on, kprobes gone with the loader`;
    return { ok: true, detail: `${what} gone (${state}); ${evidenceText(undo.tag, { seen: "chosen syscalls", injected: "failed" })}` };
  },
  effect: async (_target, undo) => helperEffect(undo.tag, { seen: "chosen syscalls", injected: "failed" }),
  describe: (_target, undo) => undo.mechanism,
};

register(syscallError);
