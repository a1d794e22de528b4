// What every container fault shares: availability is the target's engine
// answering, and a revert first asks whether the container is still the one
// it changed (gone or recreated meanwhile is reported, not failed).
import { z } from "zod";
import { duration } from "../../lib/duration";
import type { ContainerTarget } from "../targets/container";
import type { Availability, VerifyResult } from "../types";
import { defaultEngine, docker, engineAvailable } from "./engine";
import { notOurs, presence, sameContainer } from "./containers";
import type Dockerode from "dockerode";

export const available = (t?: ContainerTarget): Promise<Availability> => engineAvailable(t?.engine ?? defaultEngine());

/** docker stop/restart's grace: whole seconds, so the duration is rounded up. */
export const graceParam = duration({ max: 600_000 }).default(10_000);
export const graceSeconds = (ms: number) => Math.ceil(ms / 1000);

/** The container as it is now; when it is not ours any more, the verify result that says so. */
export async function ours(t: ContainerTarget): Promise<{ info: Dockerode.ContainerInspectInfo } | { done: VerifyResult }> {
  const p = await presence(t);
  return p.state === "same" ? { info: p.info } : { done: { ok: true, detail: notOurs(t, p) } };
}

/** The container for plan(), refusing one somebody else paused: stopping, killing or restarting it would not leave it as they had it. */
export async function unpausedContainer(t: ContainerTarget, fault: string): Promise<Dockerode.ContainerInspectInfo> {
  const info = await sameContainer(t);
  if (info.State.Paused) throw new Error(`container ${t.name} was paused before the experiment: ${fault} leaves it as it is (unpause it, or select running containers)`);
  return info;
}

/** Revert of stop, kill (with start) and restart: start the very container again when it is not running. */
export async function startIfStopped(t: ContainerTarget): Promise<void> {
  const o = await ours(t);
  if ("info" in o && !o.info.State.Running) await (await docker(t.engine)).getContainer(t.id).start();
}

export const stateOf = (info: Dockerode.ContainerInspectInfo) =>
  info.State.Paused ? "paused" : info.State.Running ? `running since ${info.State.StartedAt}` : `${info.State.Status} (exit code ${info.State.ExitCode})`;

export const noParams = z.object({}).strict();
