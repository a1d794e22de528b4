// container-pause: freeze every process of one container (docker pause, the
// cgroup freezer); reverted by unpause. A container that was already paused
// before the experiment is left paused, as its owner had it, and touched
// nothing: the evidence says so.
import { z } from "zod";
import { register } from "../registry";
import type { ContainerTarget } from "../targets/container";
import type { Injector } from "../types";
import { available, noParams, ours, stateOf } from "./common";
import { sameContainer } from "./containers";
import { docker } from "./engine";
import { containerEffect } from "./evidence";

interface PauseUndo {
  /** paused by someone else before we came: nothing to do, nothing to undo */
  wasPaused: boolean;
  /** unix ms at plan: the engine's events from then on are the evidence (absent in journals from before it) */
  since?: number;
}

export const containerPause: Injector<z.infer<typeof noParams>, PauseUndo, ContainerTarget> = {
  name: "container-pause",
  description: "Pause a container (every process frozen, docker pause); reverted by unpause. One paused before is left as it was.",
  family: "container",
  targetKind: "container",
  params: noParams,
  available,

  async plan(t) {
    return { wasPaused: (await sameContainer(t)).State.Paused, since: Date.now() };
  },

  async inject(t, _p, { undo }) {
    if (undo.wasPaused) return;
    await (await docker(t.engine)).getContainer(t.id).pause();
  },

  async revert(t, undo) {
    if (undo.wasPaused) return;
    const o = await ours(t);
    if ("info" in o && o.info.State.Paused) await (await docker(t.engine)).getContainer(t.id).unpause();
  },

  async verify(t, undo) {
    const o = await ours(t);
    if (!("info" in o)) return o.done;
    if (undo.wasPaused) return { ok: true, detail: `container ${t.name} was paused before the experiment: left paused, untouched (${stateOf(o.info)})` };
    return o.info.State.Paused ? { ok: false, detail: `container ${t.name} is still paused` } : { ok: true, detail: `container ${t.name} unpaused: ${stateOf(o.info)}` };
  },

  async effect(t, undo) {
    if (undo.wasPaused) return { touched: 0, summary: `container ${t.name} was already paused by someone else: left alone, nothing touched` };
    return containerEffect(t, "pause", undo.since);
  },

  describe: (t, undo) => (undo.wasPaused ? `container ${t.name} is already paused by someone else: left alone, nothing touched` : `docker pause ${t.name} (cgroup freezer), unpause on revert`),
};

register(containerPause);
