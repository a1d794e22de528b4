// container-stop: stop a container (TERM, then KILL after the grace period:
// docker stop -t); reverted by starting it again.
import { z } from "zod";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, graceParam, graceSeconds, ours, refusePaused, stateOf } from "./common";
import { sameContainer } from "./containers";
import { docker } from "./engine";

export const containerStopParams = z.object({ grace: graceParam }).strict();
type StopParams = z.infer<typeof containerStopParams>;

interface StopUndo {
  graceSeconds: number;
}

export const containerStop: Injector<StopParams, StopUndo, ContainerTarget> = {
  name: "container-stop",
  description: "Stop a container (TERM, KILL after the grace period, docker stop); reverted by starting it again.",
  targetKind: "container",
  params: containerStopParams,
  available,

  async plan(t, p) {
    refusePaused(t, await sameContainer(t), "container-stop");
    return { graceSeconds: graceSeconds(p.grace) };
  },

  async inject(t, _p, { undo }) {
    await docker(t.engine).getContainer(t.id).stop({ t: undo.graceSeconds });
  },

  async revert(t) {
    const o = await ours(t);
    if ("info" in o && !o.info.State.Running) await docker(t.engine).getContainer(t.id).start();
  },

  async verify(t) {
    const o = await ours(t);
    if (!("info" in o)) return o.done;
    return o.info.State.Running ? { ok: true, detail: `container ${t.name} started again: ${stateOf(o.info)}` } : { ok: false, detail: `container ${t.name} is not running: ${stateOf(o.info)}` };
  },

  describe: (t, undo) => `docker stop -t ${undo.graceSeconds} ${t.name}, docker start on revert`,
};

register(containerStop);
