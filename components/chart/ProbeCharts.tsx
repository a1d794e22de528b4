"use client";
import { useMemo } from "react";
import type { ProbeSampleMsg } from "@/lib/contract";
import type { Thresholds } from "@/lib/web/thresholds";
import { thresholdText } from "@/lib/web/format";
import { formatValue, type SliSeries } from "./createSliChart";
import { SliChart } from "./SliChart";

interface ProbeSeries extends SliSeries {
  probe: string;
  last: ProbeSampleMsg | undefined;
}

/** One small chart per probe, in the order the probes first reported. */
export function ProbeCharts({ samples, thresholds }: { samples: ProbeSampleMsg[]; thresholds: Thresholds }) {
  const series = useMemo(() => {
    const by = new Map<string, ProbeSeries>();
    for (const s of samples) {
      let p = by.get(s.probe);
      if (!p) {
        p = { probe: s.probe, measure: s.measure, points: [], threshold: thresholds[s.probe], last: undefined };
        by.set(s.probe, p);
      }
      p.points.push({ monoMs: s.monoMs, value: s.value, ok: s.ok });
      p.last = s;
    }
    return [...by.values()];
  }, [samples, thresholds]);

  if (!series.length) return <p className="text-sm text-slate-500">No probe samples yet.</p>;
  return (
    <div className="grid gap-3 md:grid-cols-2">
      {series.map((s) => (
        <figure key={s.probe} className="rounded-lg border border-slate-800 bg-slate-950/60 p-2" data-testid={`chart-${s.probe}`}>
          <figcaption className="mb-1 flex items-baseline justify-between gap-2 px-1 text-xs">
            <span className="font-medium text-slate-200">
              {s.probe} <span className="text-slate-500">{s.measure}</span>
            </span>
            <span className={s.last?.ok === false ? "text-red-400" : "text-slate-400"}>
              {s.last?.value != null ? formatValue(s.measure, s.last.value) : "—"}
              {s.threshold ? <span className="text-slate-500"> · tolerance {thresholdText(s.threshold)}</span> : null}
            </span>
          </figcaption>
          <SliChart series={s} />
        </figure>
      ))}
    </div>
  );
}
