// Browser entry of the post-mortem page (bundled and inlined by report/render.ts):
// fills each empty <svg> with the dashboard's own D3 chart and graph, then
// flags the page ready for page.pdf().
import type { GraphState } from "@/lib/contract";
import { createSliChart, type SliSeries } from "@/components/chart/createSliChart";
import { createGraph } from "@/components/graph/createGraph";

export interface DrawData {
  charts: Record<string, SliSeries>;
  graph: GraphState | null;
}

const data = JSON.parse(document.getElementById("report-data")!.textContent!) as DrawData;
for (const svg of document.querySelectorAll<SVGSVGElement>("svg[data-sli]")) {
  const series = data.charts[svg.dataset.sli!];
  if (series) createSliChart(svg, { width: 720, height: 170 }).update(series);
}
const graphSvg = document.querySelector<SVGSVGElement>("svg[data-graph]");
if (graphSvg && data.graph) createGraph(graphSvg, { nodeWidth: 210, nodeHeight: 82, layerGap: 70 }).update(data.graph);
document.documentElement.dataset.ready = "1";
