// container-restart: restart a container (docker restart -t). The restart
// itself is the fault; there is nothing to undo, so the revert makes sure it
// runs again (a restart that left it stopped is started) and says so.
import { z } from "zod";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, graceParam, graceSeconds, ours, unpausedContainer, startIfStopped, stateOf } from "./common";
import { docker } from "./engine";
import { containerEffect } from "./evidence";

export const containerRestartParams = z.object({ grace: graceParam }).strict();
type RestartParams = z.infer<typeof containerRestartParams>;

interface RestartUndo {
  graceSeconds: number;
  startedAt: string;
  /** unix ms at plan: the engine's events from then on are the evidence */
  since?: number;
}

export const containerRestart: Injector<RestartParams, RestartUndo, ContainerTarget> = {
  name: "container-restart",
  description: "Restart a container (docker restart, TERM then KILL after the grace period); the revert makes sure it runs.",
  family: "container",
  targetKind: "container",
  params: containerRestartParams,
  available,

  async plan(t, p) {
    const info = await unpausedContainer(t, "container-restart");
    return { graceSeconds: graceSeconds(p.grace), startedAt: info.State.StartedAt, since: Date.now() };
  },

  async inject(t, _p, { undo }) {
    await (await docker(t.engine)).getContainer(t.id).restart({ t: undo.graceSeconds });
  },

  revert: (t) => startIfStopped(t),

  async verify(t, undo) {
    const o = await ours(t);
    if (!("info" in o)) return o.done;
    if (!o.info.State.Running) return { ok: false, detail: `container ${t.name} is not running: ${stateOf(o.info)}` };
    const fresh = o.info.State.StartedAt !== undo.startedAt;
    return { ok: true, detail: `container ${t.name} ${fresh ? "was restarted" : "was not restarted (same start time)"} and is ${stateOf(o.info)}` };
  },

  effect: (t, undo) => containerEffect(t, "restart", undo.since),

  describe: (t, undo) => `docker restart -t ${undo.graceSeconds} ${t.name} (not undone; it must run again)`,
};

register(containerRestart);
