"use client";
import { useEffect, useRef } from "react";
import type { TimelineEvent } from "@/lib/contract";
import { offset } from "@/lib/web/format";

const KIND_CLASS: Record<string, string> = {
  breach: "text-red-400",
  abort: "text-amber-400",
  failed: "text-red-400",
  "inject-failed": "text-red-400",
  "revert-failed": "text-red-400",
  injected: "text-orange-300",
  reverted: "text-emerald-400",
  recovered: "text-emerald-400",
  "run-ended": "text-sky-300",
  "run-started": "text-sky-300",
};

/** Events in time order; follows the newest one unless the reader scrolled up. */
export function Timeline({ events, maxHeight = "max-h-80" }: { events: TimelineEvent[]; maxHeight?: string }) {
  const box = useRef<HTMLOListElement>(null);
  const follow = useRef(true);

  useEffect(() => {
    const el = box.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [events]);

  return (
    <ol
      ref={box}
      data-testid="timeline"
      onScroll={(e) => {
        const el = e.currentTarget;
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      }}
      className={`${maxHeight} space-y-0.5 overflow-y-auto rounded-lg border border-slate-800 bg-slate-950/60 p-2 font-mono text-xs`}
    >
      {events.length === 0 ? <li className="text-slate-500">No events yet.</li> : null}
      {events.map((e, i) => (
        <li key={`${e.monoMs}-${i}`} className="flex gap-2" data-kind={e.kind} title={e.at}>
          <span className="w-16 shrink-0 text-right tabular-nums text-slate-500">{offset(e.monoMs)}</span>
          <span className={`w-36 shrink-0 ${KIND_CLASS[e.kind] ?? "text-slate-400"}`}>{e.kind}</span>
          <span className="break-words text-slate-200">{e.message}</span>
        </li>
      ))}
    </ol>
  );
}
