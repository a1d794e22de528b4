// EC2 through the AWS SDK v3: one client per region and endpoint, credentials
// from the standard chain (environment, profile, instance role). The region
// and endpoint travel with every instance target (and so with its journal
// entry), so a reaper reverts against the API the change was made on. The
// SDK retries throttling (RequestLimitExceeded) with backoff itself. The SDK
// is loaded on first use: every process that loads the injectors (the worker,
// each reaper, each CLI) would otherwise pay a second for it at start.
import type { EC2Client, Filter, Instance, Reservation } from "@aws-sdk/client-ec2";
import { config } from "../../lib/config";
import { checkRegion } from "./guard";
import type { Availability } from "../types";

export interface Ec2Where {
  region: string;
  endpoint?: string;
}

export const sdk = () => import("@aws-sdk/client-ec2");

const clients = new Map<string, EC2Client>();

export async function ec2(w: Ec2Where): Promise<EC2Client> {
  const key = `${w.region} ${w.endpoint ?? ""}`;
  let c = clients.get(key);
  if (!c) {
    const { EC2Client } = await sdk();
    c = new EC2Client({ region: w.region, ...(w.endpoint ? { endpoint: w.endpoint } : {}), maxAttempts: 6, retryMode: "standard" });
    clients.set(key, c);
  }
  return c;
}

/** The region and endpoint a selector means: its own, else GAMEDAY_EC2_ENDPOINT and the SDK's region chain. */
export async function whereOf(sel: { region?: string; endpoint?: string }): Promise<Ec2Where> {
  const endpoint = sel.endpoint ?? config().GAMEDAY_EC2_ENDPOINT?.toString().replace(/\/$/, "");
  if (sel.region) return { region: sel.region, endpoint };
  const probe = new (await sdk()).EC2Client(endpoint ? { endpoint } : {});
  try {
    const region = await probe.config.region();
    if (!region) throw new Error("no region");
    return { region, endpoint };
  } catch {
    throw new Error("no AWS region: give the selector's region, or set AWS_REGION (or a profile's region)");
  } finally {
    probe.destroy();
  }
}

/** An SDK error as one line: its code and message (the request ID when there is one). */
export function awsError(e: unknown): string {
  const err = e as { name?: string; Code?: string; message?: string; $metadata?: { requestId?: string; attempts?: number } };
  const code = err.Code ?? err.name ?? "Error";
  const tries = err.$metadata?.attempts && err.$metadata.attempts > 1 ? ` after ${err.$metadata.attempts} attempts` : "";
  return `${code}: ${err.message ?? String(e)}${tries}`;
}

export const isCode = (e: unknown, code: string) => (e as { name?: string; Code?: string }).name === code || (e as { Code?: string }).Code === code;

/** An instance with the account that owns it (its reservation's OwnerId). */
export type OwnedInstance = Instance & { OwnerId?: string };

const owned = (rs: Reservation[] | undefined): OwnedInstance[] => (rs ?? []).flatMap((r) => (r.Instances ?? []).map((i) => ({ ...i, OwnerId: r.OwnerId })));

export async function describeAll(w: Ec2Where, input: { InstanceIds?: string[]; Filters?: Filter[] }): Promise<OwnedInstance[]> {
  const out: OwnedInstance[] = [];
  const { paginateDescribeInstances } = await sdk();
  for await (const page of paginateDescribeInstances({ client: await ec2(w), pageSize: 100 }, input)) out.push(...owned(page.Reservations));
  return out;
}

/** One instance, or null when EC2 does not know it (any more). */
export async function describeOne(w: Ec2Where, id: string): Promise<OwnedInstance | null> {
  try {
    const { DescribeInstancesCommand } = await sdk();
    const r = await (await ec2(w)).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return owned(r.Reservations)[0] ?? null;
  } catch (e) {
    if (isCode(e, "InvalidInstanceID.NotFound")) return null;
    throw new Error(`instance ${id}: ${awsError(e)}`);
  }
}

export const stateName = (i: Instance | null) => i?.State?.Name ?? "gone";

/** Poll until the instance reaches one of the states (EC2 is eventually consistent), the signal fires, or the time runs out. */
export async function waitState(w: Ec2Where, id: string, want: string[], timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const end = Date.now() + timeoutMs;
  let s = stateName(await describeOne(w, id));
  for (let wait = 100; !want.includes(s) && Date.now() < end && !signal?.aborted; wait = Math.min(wait * 2, 2000)) {
    await new Promise((r) => setTimeout(r, wait));
    s = stateName(await describeOne(w, id));
  }
  return s;
}

export async function ec2Available(w?: Ec2Where): Promise<Availability> {
  if (!w) return { ok: true, detail: "EC2 (the region and credentials are checked per instance)" };
  try {
    checkRegion(w.region);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  try {
    const { DescribeInstancesCommand } = await sdk();
    await (await ec2(w)).send(new DescribeInstancesCommand({ MaxResults: 5 }));
    return { ok: true, detail: `EC2 ${w.region}${w.endpoint ? ` at ${w.endpoint}` : ""}` };
  } catch (e) {
    return { ok: false, reason: `EC2 ${w.region}${w.endpoint ? ` at ${w.endpoint}` : ""} is not reachable with these credentials: ${awsError(e)}` };
  }
}

/**
 * Ask EC2 whether a call would succeed (its own DryRun flag): ok on
 * DryRunOperation, the refusal otherwise (UnauthorizedOperation, a missing
 * instance, ...). Changes nothing.
 */
export async function dryRun(w: Ec2Where, send: (c: EC2Client) => Promise<unknown>): Promise<{ ok: boolean; detail: string }> {
  try {
    await send(await ec2(w));
    return { ok: false, detail: "EC2 did not honour DryRun (the call went through)" };
  } catch (e) {
    if (isCode(e, "DryRunOperation")) return { ok: true, detail: "EC2 DryRun: the request would have succeeded" };
    return { ok: false, detail: awsError(e) };
  }
}
