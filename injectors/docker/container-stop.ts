// container-stop: stop a container (TERM, then KILL after the grace period:
// docker stop -t); reverted by starting it again.
import { z } from "zod";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, graceParam, graceSeconds, ours, unpausedContainer, startIfStopped, stateOf } from "./common";
import { docker } from "./engine";
import { containerEffect } from "./evidence";

export const containerStopParams = z.object({ grace: graceParam }).strict();
type StopParams = z.infer<typeof containerStopParams>;

interface StopUndo {
  graceSeconds: number;
  /** unix ms at plan: the engine's events from then on are the evidence */
  since?: number;
}

export const containerStop: Injector<StopParams, StopUndo, ContainerTarget> = {
  name: "container-stop",
  description: "Stop a container (TERM, KILL after the grace period, docker stop); reverted by starting it again.",
  family: "container",
  targetKind: "container",
  params: containerStopParams,
  available,

  async plan(t, p) {
    await unpausedContainer(t, "container-stop");
    return { graceSeconds: graceSeconds(p.grace), since: Date.now() };
  },

  async inject(t, _p, { undo }) {
    await (await docker(t.engine)).getContainer(t.id).stop({ t: undo.graceSeconds });
  },

  revert: (t) => startIfStopped(t),

  async verify(t) {
    const o = await ours(t);
    if (!("info" in o)) return o.done;
    return o.info.State.Running ? { ok: true, detail: `container ${t.name} started again: ${stateOf(o.info)}` } : { ok: false, detail: `container ${t.name} is not running: ${stateOf(o.info)}` };
  },

  effect: (t, undo) => containerEffect(t, "stop", undo.since),

  describe: (t, undo) => `docker stop -t ${undo.graceSeconds} ${t.name}, docker start on revert`,
};

register(containerStop);
