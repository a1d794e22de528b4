// A small live line chart of one probe's SLI over the run, with its tolerance
// drawn as a dashed line and the out-of-tolerance side shaded. Same pattern as
// the graph: built once into an <svg>, then update(series); no listeners.
import { axisBottom, axisLeft, extent, line, scaleLinear, select } from "d3";
import type { Threshold } from "@/lib/contract";

export interface SliPoint {
  /** ms since the run started */
  monoMs: number;
  value: number | null;
  ok: boolean;
}

export interface SliSeries {
  measure: string;
  points: SliPoint[];
  threshold?: Threshold;
  /** post-mortem overlays: time span to show (ms since the run started, lead-in and lead-out included), */
  domainMs?: [number, number];
  /** fault windows, shaded */
  windows?: { fromMs: number; toMs: number }[];
  /** and moments (breach, abort, end), as labelled vertical rules */
  marks?: { atMs: number; label: string }[];
}

export interface SliChartOptions {
  width?: number;
  height?: number;
}

export interface SliChartHandle {
  update(series: SliSeries): void;
  destroy(): void;
}

const M = { top: 10, right: 12, bottom: 22, left: 50 };
/** Red dots are for the eye, not a data dump: draw at most this many. */
const MAX_BAD_DOTS = 300;

/** Success rates and ratios are fractions shown as %; latencies in ms. */
export function measureUnit(measure: string): "fraction" | "ms" | "plain" {
  if (/success|ratio/i.test(measure)) return "fraction";
  if (/latency|ms$/i.test(measure)) return "ms";
  return "plain";
}

export function formatValue(measure: string, v: number): string {
  const unit = measureUnit(measure);
  if (unit === "fraction") return `${(v * 100).toFixed(v >= 0.995 || v <= 0.005 ? 0 : 1)}%`;
  if (unit === "ms") return `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}

export function createSliChart(svgElement: SVGSVGElement, options: SliChartOptions = {}): SliChartHandle {
  const W = options.width ?? 420;
  const H = options.height ?? 150;
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;

  const svg = select(svgElement).attr("viewBox", `0 0 ${W} ${H}`).attr("preserveAspectRatio", "xMidYMid meet");
  const g = svg.append("g").attr("transform", `translate(${M.left},${M.top})`);
  const shadeMin = g.append("rect").attr("fill", "#ef4444").attr("fill-opacity", 0.08).attr("x", 0).attr("width", iw);
  const shadeMax = g.append("rect").attr("fill", "#ef4444").attr("fill-opacity", 0.08).attr("x", 0).attr("width", iw);
  const windows = g.append("g").attr("data-testid", "fault-windows");
  const marks = g.append("g").attr("data-testid", "marks");
  const xAxis = g.append("g").attr("transform", `translate(0,${ih})`).attr("color", "#64748b");
  const yAxis = g.append("g").attr("color", "#64748b");
  const tolMin = g.append("line").attr("stroke", "#f87171").attr("stroke-dasharray", "5 4").attr("stroke-width", 1.5).attr("data-testid", "tolerance-min");
  const tolMax = g.append("line").attr("stroke", "#f87171").attr("stroke-dasharray", "5 4").attr("stroke-width", 1.5).attr("data-testid", "tolerance-max");
  const path = g.append("path").attr("fill", "none").attr("stroke", "#38bdf8").attr("stroke-width", 1.8).attr("stroke-linejoin", "round");
  const dots = g.append("g");
  const empty = g
    .append("text")
    .attr("x", iw / 2)
    .attr("y", ih / 2)
    .attr("text-anchor", "middle")
    .attr("fill", "#64748b")
    .attr("font-size", 12)
    .text("waiting for samples…");

  function update(series: SliSeries): void {
    const unit = measureUnit(series.measure);
    const pts = series.points;
    const values = pts.map((p) => p.value).filter((v): v is number => v !== null && Number.isFinite(v));
    const t = series.threshold ?? {};
    empty.attr("visibility", values.length ? "hidden" : "visible");

    const [t0 = 0, t1 = 0] = series.domainMs
      ? series.domainMs.map((v) => v / 1000)
      : (extent(pts, (p) => p.monoMs / 1000) as [number | undefined, number | undefined]);
    const x = scaleLinear()
      .domain([t0, Math.max(t1, t0 + 10)])
      .range([0, iw]);

    const bounds = [...values, ...(t.min !== undefined ? [t.min] : []), ...(t.max !== undefined ? [t.max] : [])];
    let lo = bounds.length ? Math.min(...bounds) : 0;
    let hi = bounds.length ? Math.max(...bounds) : 1;
    if (unit === "fraction") {
      // always at least 90–100 %, so a steady 100 % is a flat line at the top
      lo = Math.max(0, Math.min(lo - 0.05, 0.9));
      hi = Math.max(hi, 1);
    } else {
      lo = Math.min(0, lo);
      hi = hi > lo ? hi * 1.15 : lo + 1;
    }
    const y = scaleLinear().domain([lo, hi]).range([ih, 0]).nice();

    xAxis.call(
      axisBottom(x)
        .ticks(5)
        .tickFormat((d) => `${Number(d)}s`),
    );
    yAxis.call(
      axisLeft(y)
        .ticks(4)
        .tickFormat((d) => formatValue(series.measure, Number(d))),
    );

    const [yLo, yHi] = y.domain();
    const within = (v: number | undefined) => v !== undefined && v >= yLo && v <= yHi;
    // a tolerance bound: its dashed line, and the shaded side that breaches it (below min, above max)
    const bound = (rule: typeof tolMin, shade: typeof shadeMin, v: number | undefined, below: boolean) => {
      const at = within(v) ? y(v!) : null;
      rule.attr("visibility", at === null ? "hidden" : "visible").attr("x1", 0).attr("x2", iw).attr("y1", at ?? 0).attr("y2", at ?? 0);
      shade
        .attr("visibility", at === null ? "hidden" : "visible")
        .attr("y", below ? (at ?? 0) : 0)
        .attr("height", at === null ? 0 : below ? ih - at : at);
    };
    bound(tolMin, shadeMin, t.min, true);
    bound(tolMax, shadeMax, t.max, false);

    const l = line<SliPoint>()
      .defined((p) => p.value !== null && Number.isFinite(p.value))
      .x((p) => x(p.monoMs / 1000))
      .y((p) => y(p.value!));
    path.attr("d", l(pts) ?? "");

    const sx = (ms: number) => Math.max(0, Math.min(iw, x(ms / 1000)));
    windows
      .selectAll("rect")
      .data(series.windows ?? [])
      .join("rect")
      .attr("fill", "#f97316")
      .attr("fill-opacity", 0.13)
      .attr("y", 0)
      .attr("height", ih)
      .attr("x", (w) => sx(w.fromMs))
      .attr("width", (w) => Math.max(1, sx(w.toMs) - sx(w.fromMs)));
    const mark = marks
      .selectAll<SVGGElement, { atMs: number; label: string }>("g")
      .data(series.marks ?? [])
      .join((enter) => {
        const m = enter.append("g");
        m.append("line").attr("y1", 0).attr("y2", ih).attr("stroke-width", 1.2).attr("stroke-dasharray", "2 2");
        m.append("text").attr("font-size", 9).attr("text-anchor", "middle");
        return m;
      })
      .attr("data-mark", (m) => m.label)
      .attr("transform", (m) => `translate(${sx(m.atMs)},0)`);
    mark.select("line").attr("stroke", (m) => (m.label === "breach" ? "#dc2626" : "#475569"));
    mark
      .select("text")
      .attr("fill", (m) => (m.label === "breach" ? "#dc2626" : "#475569"))
      // marks a few ms apart (breach, abort) would print over each other: stagger their labels
      .attr("y", (_m, i) => 9 + (i % 3) * 10)
      .text((m) => m.label);

    const bad = pts.filter((p) => !p.ok && p.value !== null).slice(-MAX_BAD_DOTS);
    dots
      .selectAll("circle")
      .data(bad)
      .join("circle")
      .attr("r", 2.5)
      .attr("fill", "#ef4444")
      .attr("cx", (p) => x(p.monoMs / 1000))
      .attr("cy", (p) => y(p.value!));
  }

  return {
    update,
    destroy() {
      svg.selectAll("*").remove();
      svg.attr("viewBox", null);
    },
  };
}
