// The post-mortem as one self-contained HTML file: the React page rendered to
// static markup, the print CSS and fonts inlined (base64), the dashboard's D3
// chart and graph code bundled (esbuild) and inlined with the data it draws.
// No external URL anywhere, so the file opens offline and Chromium prints it
// without a web server.
import fs from "node:fs";
import path from "node:path";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { build } from "esbuild";
import type { GraphState, NodeStatus } from "../lib/contract";
import type { SliSeries, SliPoint } from "../components/chart/createSliChart";
import { Report } from "../components/report/Report";
import type { DrawData } from "../components/report/draw";
import type { ReportModel } from "./model";

const ROOT = path.resolve(import.meta.dirname, "..");
const FONT_DIR = "/usr/share/fonts/truetype/dejavu";
const FONTS: [family: string, weight: number, file: string][] = [
  ["Report Sans", 400, "DejaVuSansCondensed.ttf"],
  ["Report Sans", 700, "DejaVuSansCondensed-Bold.ttf"],
  ["Report Mono", 400, "DejaVuSansMono.ttf"],
];
/** Per probe: a one-hour run at 250 ms is 14,400 samples; the chart keeps each bucket's min and max, so no dip is lost. */
const MAX_BUCKETS = 900;

let script: Promise<string> | null = null;
let fontCss: string | null = null;

/** The browser bundle of components/report/draw.ts, built once per process. */
function drawScript(): Promise<string> {
  script ??= build({
    entryPoints: [path.join(ROOT, "components/report/draw.ts")],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    tsconfig: path.join(ROOT, "tsconfig.json"),
    logLevel: "silent",
  }).then(
    (r) => r.outputFiles[0].text.replace(/<\/script/gi, "<\\/script"),
    (e: Error) => {
      script = null;
      throw e;
    },
  );
  return script;
}

/** DejaVu (Debian's fonts-dejavu-core) inlined; without it the page falls back to the system's sans-serif. */
function fonts(): string {
  if (fontCss !== null) return fontCss;
  fontCss = FONTS.map(([family, weight, file]) => {
    try {
      const b64 = fs.readFileSync(path.join(FONT_DIR, file)).toString("base64");
      return `@font-face{font-family:"${family}";font-weight:${weight};src:url(data:font/ttf;base64,${b64}) format("truetype");}`;
    } catch {
      return "";
    }
  }).join("\n");
  return fontCss;
}

function downsample(points: SliPoint[]): SliPoint[] {
  if (points.length <= MAX_BUCKETS * 2) return points;
  const t0 = points[0].monoMs;
  const width = (points.at(-1)!.monoMs - t0) / MAX_BUCKETS || 1;
  const out: SliPoint[] = [];
  let bucket: SliPoint[] = [];
  let index = 0;
  const flush = () => {
    const vals = bucket.filter((p) => p.value !== null);
    if (!vals.length) out.push(bucket[0]);
    else {
      const lo = vals.reduce((a, b) => (b.value! < a.value! ? b : a));
      const hi = vals.reduce((a, b) => (b.value! > a.value! ? b : a));
      for (const p of lo.monoMs <= hi.monoMs ? [lo, hi] : [hi, lo]) if (!out.includes(p)) out.push(p);
    }
    bucket = [];
  };
  for (const p of points) {
    const i = Math.floor((p.monoMs - t0) / width);
    if (i !== index && bucket.length) flush();
    index = i;
    bucket.push(p);
  }
  if (bucket.length) flush();
  return out;
}

export function drawData(m: ReportModel): DrawData {
  const charts: Record<string, SliSeries> = {};
  const domainMs: [number, number] = [m.span.fromMs, Math.max(m.span.toMs, m.span.fromMs + 1000)];
  for (const p of m.probes) {
    const points = m.input.samples.filter((s) => s.probe === p.name).map((s) => ({ monoMs: s.monoMs, value: s.value, ok: s.ok }));
    charts[p.name] = { measure: p.measure, threshold: p.tolerance, points: downsample(points), domainMs, windows: m.faultWindows, marks: m.marks };
  }
  let graph: GraphState | null = null;
  const topo = m.input.topology;
  if (topo) {
    const nodes: Record<string, NodeStatus> = {};
    for (const n of topo.nodes) {
      const hit = m.input.run.faults.filter((f) => f.node === n.id && f.injectedAt);
      const byFault = new Map<string, number>();
      for (const f of hit) byFault.set(f.fault, (byFault.get(f.fault) ?? 0) + 1);
      // the worst the graph saw under fault; without that account the node shows no data
      const worst = m.blast.nodes?.find((x) => x.node === n.id)?.worst;
      nodes[n.id] = {
        successRate: worst?.successRate ?? null,
        p95LatencyMs: worst?.p95LatencyMs ?? null,
        requestsPerSec: worst?.requestsPerSec ?? null,
        instancesUp: worst?.instancesUp ?? 0,
        instancesTotal: worst?.instancesTotal ?? 0,
        faults: [...byFault].map(([fault, count]) => ({ runId: m.input.run.id, fault, count })),
      };
    }
    graph = { topology: topo, nodes, at: m.input.generatedAt };
  }
  return { charts, graph };
}

const escapeJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c");
const escapeText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

export async function renderHtml(m: ReportModel): Promise<string> {
  const css = fs.readFileSync(path.join(ROOT, "components/report/report.css"), "utf8");
  const body = renderToStaticMarkup(createElement(Report, { m }));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeText(`Post-mortem: ${m.input.run.name} (${m.input.run.id})`)}</title>
<style>${fonts()}
${css}</style></head>
<body>${body}
<script type="application/json" id="report-data">${escapeJson(drawData(m))}</script>
<script>${await drawScript()}</script>
</body></html>`;
}
