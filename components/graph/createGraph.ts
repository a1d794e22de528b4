// The architecture graph, drawn with D3 into an <svg> that React owns: built
// once, then update(state) on every graph:state re-joins nodes and edges by key
// (layout is recomputed only when the topology itself changes). Its only
// listeners are clicks on its own nodes (picking one), gone with them; sizing
// is a viewBox, so the container decides the width.
import { select, type Selection } from "d3";
import type { GraphState, NodeStatus, TopologyEdgeInfo, TopologyNodeInfo } from "@/lib/contract";
import { faultSummary, HEALTH_COLOR, nodeHealth, sliText } from "@/lib/web/format";

export interface GraphOptions {
  /** Node box size in viewBox units. */
  nodeWidth?: number;
  nodeHeight?: number;
  /** Gap between layers (columns) and between nodes of one layer. */
  layerGap?: number;
  rowGap?: number;
}

export interface GraphHandle {
  /** picked: the node to outline as picked (the fault catalogue aims at it) */
  update(state: GraphState, picked?: string | null): void;
  destroy(): void;
}

interface Pos {
  x: number;
  y: number;
}

interface Layout {
  pos: Map<string, Pos>;
  width: number;
  height: number;
}

const PAD = 28;
/** Room above the top row for fault badges. */
const PAD_TOP = 40;

let instances = 0;

/**
 * Layers from the edges (longest path from a source), so frontend → api → db
 * reads left to right. Cycles are cut by capping the layer at the node count.
 */
export function layeredLayout(nodes: TopologyNodeInfo[], edges: TopologyEdgeInfo[], o: Required<GraphOptions>): Layout {
  const ids = new Set(nodes.map((n) => n.id));
  const valid = edges.filter((e) => ids.has(e.from) && ids.has(e.to) && e.from !== e.to);
  const layer = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of valid) {
      const want = Math.min(layer.get(e.from)! + 1, nodes.length - 1);
      if (want > layer.get(e.to)!) {
        layer.set(e.to, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns: string[][] = [];
  for (const n of nodes) (columns[layer.get(n.id)!] ??= []).push(n.id);
  const cols = columns.filter((c) => c?.length);

  // Order each column by the mean row of its predecessors: fewer crossings.
  const row = new Map<string, number>();
  for (const col of cols) {
    const score = (id: string) => {
      const preds = valid.filter((e) => e.to === id && row.has(e.from)).map((e) => row.get(e.from)!);
      return preds.length ? preds.reduce((a, b) => a + b, 0) / preds.length : Number.POSITIVE_INFINITY;
    };
    const scored = col.map((id, i) => ({ id, s: score(id), i }));
    scored.sort((a, b) => (a.s === b.s ? a.i - b.i : a.s - b.s));
    col.splice(0, col.length, ...scored.map((x) => x.id));
    col.forEach((id, i) => row.set(id, i));
  }

  const tallest = Math.max(1, ...cols.map((c) => c.length));
  const innerH = tallest * o.nodeHeight + (tallest - 1) * o.rowGap;
  const pos = new Map<string, Pos>();
  cols.forEach((col, ci) => {
    const colH = col.length * o.nodeHeight + (col.length - 1) * o.rowGap;
    const top = PAD_TOP + (innerH - colH) / 2;
    col.forEach((id, ri) => pos.set(id, { x: PAD + ci * (o.nodeWidth + o.layerGap), y: top + ri * (o.nodeHeight + o.rowGap) }));
  });
  const n = Math.max(1, cols.length);
  return { pos, width: 2 * PAD + n * o.nodeWidth + (n - 1) * o.layerGap, height: PAD_TOP + innerH + PAD };
}

function edgePath(a: Pos, b: Pos, w: number, h: number): string {
  const sx = a.x + w;
  const sy = a.y + h / 2;
  const tx = b.x;
  const ty = b.y + h / 2;
  if (tx <= sx) return `M${sx},${sy}L${tx},${ty}`; // a back edge: no S-curve to make
  const mx = (sx + tx) / 2;
  return `M${sx},${sy}C${mx},${sy} ${mx},${ty} ${tx - 2},${ty}`;
}

function nodeTitle(n: TopologyNodeInfo, s: NodeStatus | undefined): string {
  const lines = [`${n.label} (${n.kind})`, sliText(s)];
  if (s?.requestsPerSec != null) lines.push(`${s.requestsPerSec.toFixed(1)} req/s`);
  const f = faultSummary(s);
  if (f) lines.push(`faults: ${f}`);
  return lines.join("\n");
}

/** onPick: a node was clicked */
export function createGraph(svgElement: SVGSVGElement, options: GraphOptions = {}, onPick?: (id: string) => void): GraphHandle {
  const o: Required<GraphOptions> = { nodeWidth: 236, nodeHeight: 82, layerGap: 96, rowGap: 34, ...options };
  const W = o.nodeWidth;
  const H = o.nodeHeight;
  const markerId = `gd-arrow-${++instances}`;

  const svg = select(svgElement)
    .attr("role", "img")
    .attr("aria-label", "architecture graph")
    .attr("preserveAspectRatio", "xMidYMid meet")
    .style("font-family", "inherit");
  svg
    .append("defs")
    .append("marker")
    .attr("id", markerId)
    .attr("viewBox", "0 0 10 10")
    .attr("refX", 9)
    .attr("refY", 5)
    .attr("markerWidth", 7)
    .attr("markerHeight", 7)
    .attr("orient", "auto-start-reverse")
    .append("path")
    .attr("d", "M0,0L10,5L0,10z")
    .attr("fill", "#64748b");
  const edgeLayer = svg.append("g").attr("class", "gd-edges");
  const nodeLayer = svg.append("g").attr("class", "gd-nodes");

  let layoutKey = "";
  let layout: Layout = { pos: new Map(), width: 0, height: 0 };

  function drawBadge(g: Selection<SVGGElement, TopologyNodeInfo, SVGGElement, unknown>, status: Record<string, NodeStatus>): void {
    g.each(function (n) {
      const text = faultSummary(status[n.id]);
      const badge = select(this)
        .selectAll<SVGGElement, string>("g.gd-badge")
        .data(text ? [text] : [])
        .join((enter) => {
          const b = enter.append("g").attr("class", "gd-badge").attr("data-testid", `fault-badge-${n.id}`);
          b.append("rect").attr("rx", 10).attr("height", 22).attr("fill", "#dc2626").attr("stroke", "#fecaca").attr("stroke-width", 1);
          b.append("text").attr("y", 15).attr("fill", "#fff").attr("font-size", 12).attr("font-weight", 600);
          return b;
        });
      const label = badge.select<SVGTextElement>("text").text((d) => d);
      const node = label.node();
      let tw = text.length * 7;
      try {
        if (node) tw = node.getComputedTextLength();
      } catch {
        // not laid out (hidden): keep the estimate
      }
      const bw = tw + 18;
      label.attr("x", 9);
      badge.select("rect").attr("width", bw);
      badge.attr("transform", `translate(${W - bw + 8},${-13})`);
    });
  }

  function update(state: GraphState, picked: string | null = null): void {
    const { nodes, edges } = state.topology;
    const key = JSON.stringify([nodes.map((n) => n.id), edges.map((e) => [e.from, e.to])]);
    if (key !== layoutKey) {
      layoutKey = key;
      layout = layeredLayout(nodes, edges, o);
      svg.attr("viewBox", `0 0 ${layout.width} ${layout.height}`);
    }
    const { pos } = layout;
    const status = state.nodes;

    const drawn = edges.filter((e) => pos.has(e.from) && pos.has(e.to) && e.from !== e.to);
    const edge = edgeLayer
      .selectAll<SVGGElement, TopologyEdgeInfo>("g.gd-edge")
      .data(drawn, (e) => `${e.from}→${e.to}`)
      .join((enter) => {
        const g = enter.append("g").attr("class", "gd-edge");
        g.append("path").attr("fill", "none").attr("stroke-width", 2).attr("marker-end", `url(#${markerId})`);
        g.append("text").attr("font-size", 11).attr("fill", "#94a3b8").attr("text-anchor", "middle");
        return g;
      })
      .attr("data-testid", (e) => `edge-${e.from}-${e.to}`);
    edge
      .select("path")
      .attr("d", (e) => edgePath(pos.get(e.from)!, pos.get(e.to)!, W, H))
      .attr("stroke", (e) => (nodeHealth(status[e.to]) === "down" ? "#b91c1c" : "#475569"))
      .attr("stroke-dasharray", (e) => (nodeHealth(status[e.to]) === "down" ? "6 5" : null));
    edge
      .select("text")
      .attr("x", (e) => (pos.get(e.from)!.x + W + pos.get(e.to)!.x) / 2)
      .attr("y", (e) => (pos.get(e.from)!.y + pos.get(e.to)!.y + H) / 2 - 8)
      .text((e) => e.label ?? "");

    const node = nodeLayer
      .selectAll<SVGGElement, TopologyNodeInfo>("g.gd-node")
      .data(
        nodes.filter((n) => pos.has(n.id)),
        (n) => n.id,
      )
      .join((enter) => {
        const g = enter
          .append("g")
          .attr("class", "gd-node")
          .attr("data-testid", (n) => `node-${n.id}`);
        g.append("title");
        if (onPick) g.style("cursor", "pointer").on("click", (_e: MouseEvent, n) => onPick(n.id));
        g.append("rect").attr("class", "gd-pick-ring").attr("x", -9).attr("y", -9).attr("width", W + 18).attr("height", H + 18).attr("rx", 16).attr("fill", "none").attr("stroke", "#38bdf8").attr("stroke-width", 2).attr("stroke-dasharray", "5 4");
        g.append("rect").attr("class", "gd-fault-ring").attr("x", -5).attr("y", -5).attr("width", W + 10).attr("height", H + 10).attr("rx", 14).attr("fill", "none").attr("stroke", "#ef4444").attr("stroke-width", 3);
        g.append("rect").attr("class", "gd-frame").attr("width", W).attr("height", H).attr("rx", 10).attr("fill", "#0f172a").attr("stroke-width", 1.5);
        g.append("circle").attr("class", "gd-dot").attr("cx", 17).attr("cy", 22).attr("r", 6);
        g.append("text").attr("class", "gd-label").attr("x", 31).attr("y", 27).attr("font-size", 15).attr("font-weight", 600).attr("fill", "#f1f5f9");
        g.append("text").attr("class", "gd-kind").attr("x", W - 12).attr("y", 26).attr("text-anchor", "end").attr("font-size", 11).attr("fill", "#94a3b8");
        g.append("text").attr("class", "gd-sli").attr("x", 14).attr("y", 53).attr("font-size", 13).attr("data-testid", (n) => `sli-${n.id}`);
        g.append("text").attr("class", "gd-rps").attr("x", 14).attr("y", 71).attr("font-size", 11).attr("fill", "#94a3b8");
        return g;
      })
      .attr("transform", (n) => `translate(${pos.get(n.id)!.x},${pos.get(n.id)!.y})`)
      .attr("data-fault", (n) => String((status[n.id]?.faults.length ?? 0) > 0))
      .attr("data-health", (n) => nodeHealth(status[n.id]))
      .attr("data-picked", (n) => String(n.id === picked));

    node.select("title").text((n) => nodeTitle(n, status[n.id]));
    node.select(".gd-pick-ring").attr("visibility", (n) => (n.id === picked ? "visible" : "hidden"));
    node.select(".gd-fault-ring").attr("visibility", (n) => ((status[n.id]?.faults.length ?? 0) > 0 ? "visible" : "hidden"));
    node.select(".gd-frame").attr("stroke", (n) => HEALTH_COLOR[nodeHealth(status[n.id])]);
    node.select(".gd-dot").attr("fill", (n) => HEALTH_COLOR[nodeHealth(status[n.id])]);
    node.select(".gd-label").text((n) => n.label);
    node.select(".gd-kind").text((n) => n.kind);
    node
      .select(".gd-sli")
      .attr("fill", (n) => {
        const h = nodeHealth(status[n.id]);
        return h === "unknown" ? "#cbd5e1" : HEALTH_COLOR[h];
      })
      .text((n) => sliText(status[n.id]));
    node.select(".gd-rps").text((n) => {
      const r = status[n.id]?.requestsPerSec;
      return r == null ? "no traffic measured" : `${r.toFixed(1)} req/s`;
    });
    drawBadge(node, status);
  }

  return {
    update,
    destroy() {
      svg.selectAll("*").remove();
      svg.attr("viewBox", null);
    },
  };
}
