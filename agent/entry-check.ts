// A journal entry is checked before any revert acts on it: the file may come
// from a crash mid-write, an older version or a person's editor. An entry
// whose target or undo does not have the shape its injector makes is
// refused and left for a human: acting on it could select far more than
// the change did (an empty child tag matches every command line).
import { z } from "zod";
import { issuePath } from "../lib/issues";
import type { AnyInjector } from "../injectors";
import { netnsShape } from "../injectors/undo-shapes";
import type { ChangeEntry } from "./journal";

const host = z.string().max(253).optional();
const pid = z.number().int().min(2);

/** Each target kind as a journal may hold it. */
const targetShapes: Record<string, z.ZodType> = {
  process: z.object({ kind: z.literal("process"), host, pid, startTime: z.number().int().min(0), comm: z.string(), cmdline: z.string() }).passthrough(),
  host: z.object({ kind: z.literal("host"), host, hostname: z.string().min(1) }).passthrough(),
  path: z.object({ kind: z.literal("path"), host, path: z.string().startsWith("/") }).passthrough(),
  network: z
    .object({
      kind: z.literal("network"),
      host,
      netns: netnsShape.optional(),
      netnsInode: z.number().int().min(1).optional(),
      interface: z.string().regex(/^[a-zA-Z0-9_.@-]{1,15}$/).optional(),
      direction: z.enum(["egress", "ingress", "both"]),
      protocol: z.enum(["tcp", "udp", "icmp", "all"]),
      dst: z.string().optional(),
      src: z.string().optional(),
      dstPort: z.number().int().min(1).max(65535).optional(),
      srcPort: z.number().int().min(1).max(65535).optional(),
      dstLocal: z.boolean().optional(),
      cgroup: z.string().optional(),
      spare: z.array(z.number().int().min(1).max(65535)).optional(),
    })
    .passthrough(),
};

function firstIssue(where: string, r: z.ZodSafeParseResult<unknown>): string | null {
  if (r.success) return null;
  const i = r.error.issues[0];
  return `${where}${i.path.length ? `.${issuePath(i.path)}` : ""}: ${i.message}`;
}

/** Why this entry must not be acted on, or null. */
export function entryProblem(e: ChangeEntry, injector: AnyInjector): string | null {
  const t = e.target as unknown;
  if (!t || typeof t !== "object") return "target: missing";
  const kind = (t as { kind?: unknown }).kind;
  if (kind !== injector.targetKind) return `target.kind: ${JSON.stringify(kind)}, but ${injector.name} acts on ${injector.targetKind} targets`;
  const shape = targetShapes[injector.targetKind];
  const bad = shape ? firstIssue("target", shape.safeParse(t)) : null;
  if (bad) return bad;
  if (injector.undoSchema) {
    const u = firstIssue("undo", injector.undoSchema.safeParse(e.undo));
    if (u) return u;
  } else if (e.undo === undefined) return "undo: missing";
  // an undo naming another process than the target it was planned for
  const u = e.undo as { pid?: unknown; startTime?: unknown } | null;
  const p = t as { pid?: unknown; startTime?: unknown };
  if (u && typeof u === "object" && "pid" in u && p.pid !== undefined && (u.pid !== p.pid || u.startTime !== p.startTime))
    return `undo.pid: ${String(u.pid)}@${String(u.startTime)} is not the target's ${String(p.pid)}@${String(p.startTime)}`;
  return null;
}
