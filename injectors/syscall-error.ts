// syscall-error: chosen system calls of a running process fail with an errno
// (EIO on read, ENOSPC on write, EACCES on openat, ...), with a probability,
// from the Nth matching call on, optionally only on paths matching a glob.
// Mechanism: ptrace (bpf/ptrace.c), which needs no kernel option and works on
// this machine. bpf_override_return and BPF LSM would stop nothing, but need
// CONFIG_BPF_KPROBE_OVERRIDE / an active BPF LSM: both are detected and the
// reason they were not used is part of the mechanism shown in the run record.
// Revert detaches the tracer; the process runs on as before (if the tracer
// is killed, the kernel detaches it).
import fs from "node:fs";
import { z } from "zod";
import { sameProcess, protectionReason } from "../lib/procfs";
import { errnoParam, ERRNOS, syscallParam, syscallTable } from "./bpf/errno";
import { bpfLsmProblem, kprobeOverrideProblem, ptraceAvailable } from "./bpf/detect";
import { evidenceText, helperPids, newHelperTag, startHelper, stopHelper } from "./bpf/helper";
import { after, probability } from "./bpf/params";
import { register } from "./registry";
import type { Injector, ProcessTarget } from "./types";

export const syscallErrorParams = z
  .object({
    syscall: z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v])).pipe(syscallParam),
    errno: errnoParam("EIO"),
    probability,
    /** matching calls let through first: 2 = from the 3rd call on */
    after,
    /** only calls on a path matching this glob (fnmatch): the path argument, or the file an fd argument names */
    path: z.string().min(1).max(1024).regex(/^\//, { error: "expected an absolute path glob like /var/lib/db/*" }).optional(),
    mechanism: z.enum(["auto", "ptrace"], { error: "expected auto or ptrace" }).default("auto"),
  })
  .strict();
export type SyscallErrorParams = z.infer<typeof syscallErrorParams>;

interface SyscallErrorUndo {
  tag: string;
  pid: number;
  startTime: number;
  mechanism: string;
  numbers: number[];
}

/** Why each BPF mechanism was passed over (reported with the mechanism). */
export function mechanismReport(): string {
  return `ptrace (bpf_override_return: ${kprobeOverrideProblem() ?? "available but not used by this build"}; BPF LSM: ${bpfLsmProblem() ?? "available but not used by this build"})`;
}

function tracerPid(pid: number): number | null {
  try {
    const m = /^TracerPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export const syscallError: Injector<SyscallErrorParams, SyscallErrorUndo, ProcessTarget> = {
  name: "syscall-error",
  description: "Make chosen syscalls of a running process (read, write, openat, fsync, connect, any by name) fail with an errno, by probability, from the Nth call, on paths matching a glob (ptrace).",
  targetKind: "process",
  params: syscallErrorParams,
  async available() {
    return ptraceAvailable();
  },
  async plan(target, p) {
    const t = syscallTable();
    return { tag: newHelperTag("syscall-error"), pid: target.pid, startTime: target.startTime, mechanism: mechanismReport(), numbers: p.syscall.map((n) => t[n]) };
  },
  async inject(target, p, { undo, signal }) {
    const proc = sameProcess(target.pid, target.startTime);
    if (!proc) throw new Error(`process ${target.pid} is gone or its PID was reused; nothing traced`);
    const why = protectionReason(proc);
    if (why) throw new Error(`refusing to trace PID ${target.pid}: ${why}`);
    const other = tracerPid(target.pid);
    if (other) throw new Error(`PID ${target.pid} is already traced by PID ${other} (a debugger or another fault)`);
    const args = [String(target.pid), undo.numbers.join(","), String(ERRNOS[p.errno]), String(Math.round(p.probability * 1e6)), String(p.after), p.path ?? ""];
    await startHelper("gameday-ptrace", args, undo.tag, signal);
  },
  async revert(_target, undo) {
    await stopHelper(undo.tag);
  },
  async verify(_target, undo) {
    const left = helperPids(undo.tag);
    if (left.length) return { ok: false, detail: `tracer ${left.join(", ")} still runs` };
    const alive = sameProcess(undo.pid, undo.startTime);
    const tp = alive ? tracerPid(undo.pid) : 0;
    if (tp) return { ok: false, detail: `PID ${undo.pid} is still traced by PID ${tp}` };
    return { ok: true, detail: `tracer detached (${alive ? `PID ${undo.pid} runs untraced, TracerPid 0` : `PID ${undo.pid} has exited`}); ${evidenceText(undo.tag, { seen: "chosen syscalls", injected: "failed" })}` };
  },
  describe: (_target, undo) => undo.mechanism,
};

register(syscallError);
