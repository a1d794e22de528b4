// For tests: what bpftool sees. Program IDs rather than names, so a test is
// not confused by programs another test running at the same time loaded.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const ids = (json: string) => (JSON.parse(json || "[]") as { id: number }[]).map((p) => p.id);

/** IDs of the programs attached to a cgroup folder */
export const attachedIds = async (dir: string): Promise<number[]> => ids((await run("bpftool", ["-j", "cgroup", "show", dir])).stdout);
/** IDs of every loaded program */
export const loadedIds = async (): Promise<Set<number>> => new Set(ids((await run("bpftool", ["-j", "prog", "show"])).stdout));
