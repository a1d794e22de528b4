"use client";
import type { GraphState } from "@/lib/contract";
import { useD3 } from "@/lib/web/use-d3";
import { createGraph } from "./createGraph";

const create = (svg: SVGSVGElement) => {
  const g = createGraph(svg);
  return { update: (s: GraphState | null) => s && g.update(s), destroy: g.destroy };
};

/** In a column flexbox the SVG grows to the space it is given; the viewBox keeps it centred. */
export function ArchitectureGraph({ state, className = "" }: { state: GraphState | null; className?: string }) {
  const ref = useD3(create, state);
  return <svg ref={ref} className={`block w-full ${className}`} data-testid="graph" />;
}
