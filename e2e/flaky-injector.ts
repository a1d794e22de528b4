// A test-only fault on a real process, whose failures a test controls through
// a JSON file: SIGSTOP the target (the "first half" of a change), then fail,
// or take its time; revert with SIGCONT, or throw as if a lock were held.
// Registered only by the tests that import this file; never by the product.
import fs from "node:fs";
import { z } from "zod";
import { register } from "../injectors/registry";
import { sameProcess } from "../lib/procfs";
import type { Injector, ProcessTarget } from "../injectors/types";

export interface FlakyControl {
  /** inject throws after the SIGSTOP (a change applied half-way) */
  failAfterStop?: boolean;
  /** the next N reverts throw before doing anything (-1: every one) */
  revertFailures?: number;
  /** inject waits this long after the SIGSTOP before returning */
  injectDelayMs?: number;
  /** ...and returns early when the run's signal fires (else it ignores it) */
  honorSignal?: boolean;
}

export const FLAKY = "test-flaky-stop";

const read = (file: string): FlakyControl => JSON.parse(fs.readFileSync(file, "utf8")) as FlakyControl;
export const control = (file: string, c: FlakyControl) => fs.writeFileSync(file, JSON.stringify(c));

interface Undo {
  pid: number;
  startTime: number;
  control: string;
}

export const flaky: Injector<{ control: string }, Undo, ProcessTarget> = {
  name: FLAKY,
  description: "test only: SIGSTOP, then fail or wait as the control file says",
  family: "process",
  targetKind: "process",
  params: z.object({ control: z.string() }).strict(),
  async available() {
    return { ok: true };
  },
  async plan(t, p) {
    return { pid: t.pid, startTime: t.startTime, control: p.control };
  },
  async inject(t, _p, ctx) {
    process.kill(t.pid, "SIGSTOP");
    const c = read(ctx.undo.control);
    if (c.injectDelayMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, c.injectDelayMs);
        if (c.honorSignal) ctx.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (c.honorSignal && ctx.signal.aborted) throw new Error("inject cancelled by the run's signal");
    }
    if (c.failAfterStop) throw new Error("second half failed (simulated: iptables lock timed out)");
  },
  async revert(_t, u) {
    const c = read(u.control);
    if (c.revertFailures) {
      if (c.revertFailures > 0) control(u.control, { ...c, revertFailures: c.revertFailures - 1 });
      throw new Error("simulated: the lock is still held");
    }
    if (sameProcess(u.pid, u.startTime)) process.kill(u.pid, "SIGCONT");
  },
  async verify(_t, u) {
    const p = sameProcess(u.pid, u.startTime);
    return p && p.state === "T" ? { ok: false, detail: `PID ${u.pid} is still stopped` } : { ok: true, detail: `PID ${u.pid} runs` };
  },
};

register(flaky);
