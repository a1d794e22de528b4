// container-kill: send a signal to a container's main process (docker kill).
// A signal cannot be undone: the container's restart policy (or, with
// `start: true`, the revert) brings it back; verify reports what it became.
import { z } from "zod";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, ours, unpausedContainer, startIfStopped, stateOf } from "./common";
import { docker } from "./engine";
import { containerEffect } from "./evidence";

export const containerKillParams = z
  .object({
    /** a signal name, with or without SIG (KILL, TERM, HUP, USR1, ...) */
    signal: z
      .string({ error: "expected a signal name like KILL or TERM" })
      .transform((s) => s.toUpperCase().replace(/^SIG/, ""))
      .pipe(z.string().regex(/^(KILL|TERM|INT|HUP|QUIT|USR1|USR2|ABRT|ALRM|STOP|CONT|RTMIN(\+\d{1,2})?)$/, "expected a signal name like KILL, TERM, INT, HUP, QUIT, USR1 or USR2"))
      .default("KILL"),
    /** start the container again on revert when it is not running (for containers without a restart policy) */
    start: z.boolean({ error: "expected true or false" }).default(false),
  })
  .strict();
type KillParams = z.infer<typeof containerKillParams>;

interface KillUndo {
  signal: string;
  start: boolean;
  /** StartedAt before the signal: a later one means it was restarted */
  startedAt: string;
  /** unix ms at plan: the engine's events from then on are the evidence */
  since?: number;
}

export const containerKill: Injector<KillParams, KillUndo, ContainerTarget> = {
  name: "container-kill",
  description: "Send a signal (default KILL) to a container's main process (docker kill); with start: true the revert starts it again.",
  family: "container",
  targetKind: "container",
  params: containerKillParams,
  available,

  async plan(t, p) {
    const info = await unpausedContainer(t, "container-kill");
    return { signal: p.signal, start: p.start, startedAt: info.State.StartedAt, since: Date.now() };
  },

  async inject(t, p) {
    await (await docker(t.engine)).getContainer(t.id).kill({ signal: `SIG${p.signal}` });
  },

  revert: (t, undo) => (undo.start ? startIfStopped(t) : Promise.resolve()),

  async verify(t, undo) {
    const o = await ours(t);
    if (!("info" in o)) return o.done;
    const s = o.info.State;
    if (undo.start && !s.Running) return { ok: false, detail: `container ${t.name} is not running again: ${stateOf(o.info)}` };
    const restarted = s.Running && s.StartedAt !== undo.startedAt ? "; it was restarted" : "";
    return { ok: true, detail: `SIG${undo.signal} cannot be undone; container ${t.name} is ${stateOf(o.info)}${restarted}` };
  },

  effect: (t, undo) => containerEffect(t, "kill", undo.since),

  describe: (t, undo) => `docker kill --signal SIG${undo.signal} ${t.name}${undo.start ? ", started again on revert" : " (not undone: a restart policy may bring it back)"}`,
};

register(containerKill);
