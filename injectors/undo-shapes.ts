// The shapes of the journaled undo values that revert acts on, checked
// before any revert (see Injector.undoSchema): tags that select children,
// folders and files that are removed, chains that are flushed. Each one
// must be what plan() makes, so a damaged journal entry cannot widen what a
// revert touches. Fields revert does not read are let through: an entry is
// refused for what would make its revert wrong, not for growing a field.
import path from "node:path";
import { z } from "zod";
import { isTag } from "./load/children";

export const childTag = z.string().refine(isTag, { message: "expected a Game Day child tag gameday-load:<fault>:<uuid> (or gameday-bpf:…)" });
const absolute = z.string().refine((p) => path.isAbsolute(p) && path.normalize(p) === p, { message: "expected a normalised absolute path" });
/** a folder Game Day made: its last component starts with gameday- */
const ourFolder = absolute.refine((p) => path.basename(p).startsWith("gameday-"), { message: "expected a folder named gameday-…" });
const pid = z.number().int().min(2);
const startTime = z.number().int().min(0);

export const loadUndoShape = z.object({ tag: childTag, engine: z.string() }).passthrough();

export const diskUndoShape = z
  .object({ dir: absolute, tag: childTag, prefix: z.string().regex(/^\.gameday-(disk-fill|io-stress)-[0-9a-f-]{36}-$/, "expected .gameday-<fault>-<uuid>-") })
  .passthrough();

export const processKillUndoShape = z.object({ signal: z.enum(["KILL", "TERM", "INT", "STOP"]), pid, startTime }).passthrough();

export const confineUndoShape = z
  .object({
    controller: z.enum(["cpu", "memory"]),
    pid,
    startTime,
    version: z.union([z.literal(1), z.literal(2), z.null()]),
    mode: z.enum(["child", "in-place"]),
    original: absolute.refine((p) => p.startsWith("/sys/fs/cgroup"), { message: "expected a cgroup folder under /sys/fs/cgroup" }).nullable(),
    folder: ourFolder.nullable(),
    files: z.record(absolute.refine((p) => p.startsWith("/sys/fs/cgroup"), { message: "expected a cgroup file" }), z.string().nullable()),
    tree: z.array(z.object({ pid, startTime }).passthrough()),
  })
  .passthrough();

/** an `ip netns` name, or a container's /proc/PID/ns/net */
export const netnsShape = z.string().regex(/^([a-zA-Z0-9_.-]{1,64}|\/proc\/\d+\/ns\/net)$/, "expected a netns name or /proc/PID/ns/net");

const chainShape = z
  .object({
    netns: netnsShape.optional(),
    family: z.literal(6).optional(),
    table: z.enum(["filter", "nat"]),
    chain: z.string().regex(/^GAMEDAY-[\w-]{1,20}$/, "expected a GAMEDAY-<tag> chain"),
    hooks: z.array(z.enum(["INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"])),
    comment: z.string().startsWith("gameday:"),
    rules: z.array(z.array(z.string())),
    spare: z.array(z.number().int().min(1).max(65535)).optional(),
  })
  .passthrough();

export const netUndoShape = z
  .object({
    tag: z.string().regex(/^\w{1,20}$/, "expected a short word tag"),
    mechanism: z.enum(["netem", "proxy", "iptables", "htb"]),
    netns: netnsShape.optional(),
    dev: z.string().regex(/^[a-zA-Z0-9_.@-]{1,15}$/).optional(),
    chains: z.array(chainShape),
    proxyTag: childTag.optional(),
    cgroup: ourFolder.optional(),
  })
  .passthrough();
