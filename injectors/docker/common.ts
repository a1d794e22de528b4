// What every container fault shares: availability is the target's engine
// answering, and a revert first asks whether the container is still the one
// it changed (gone or recreated meanwhile is reported, not failed).
import { z } from "zod";
import { duration } from "../../lib/duration";
import type { ContainerTarget } from "../targets/container";
import type { Availability, VerifyResult } from "../types";
import { defaultEngine, engineAvailable } from "./engine";
import { notOurs, presence } from "./containers";
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

/** plan() refuses a container somebody else paused: stopping, killing or restarting it would not leave it as they had it. */
export function refusePaused(t: ContainerTarget, info: Dockerode.ContainerInspectInfo, fault: string): void {
  if (info.State.Paused) throw new Error(`container ${t.name} was paused before the experiment: ${fault} leaves it as it is (unpause it, or select running containers)`);
}

export const stateOf = (info: Dockerode.ContainerInspectInfo) =>
  info.State.Paused ? "paused" : info.State.Running ? `running since ${info.State.StartedAt}` : `${info.State.Status} (exit code ${info.State.ExitCode})`;

export const noParams = z.object({}).strict();
