"use client";
import { useCallback, useLayoutEffect, useMemo, useRef } from "react";
import type { GraphState } from "@/lib/contract";
import { useD3 } from "@/lib/web/use-d3";
import { createGraph } from "./createGraph";

interface Data {
  state: GraphState | null;
  picked: string | null;
}

/** In a column flexbox the SVG grows to the space it is given; the viewBox keeps it centred. Clicking a node picks it (onPick). */
export function ArchitectureGraph({ state, className = "", picked = null, onPick }: { state: GraphState | null; className?: string; picked?: string | null; onPick?: (id: string) => void }) {
  // the chart is built once: it calls whoever is the latest onPick
  const pick = useRef(onPick);
  useLayoutEffect(() => {
    pick.current = onPick;
  });
  const pickable = Boolean(onPick);
  const create = useCallback(
    (svg: SVGSVGElement) => {
      const g = createGraph(svg, {}, pickable ? (id) => pick.current?.(id) : undefined);
      return { update: (d: Data) => d.state && g.update(d.state, d.picked), destroy: g.destroy };
    },
    [pickable],
  );
  const data = useMemo(() => ({ state, picked }), [state, picked]);
  const ref = useD3(create, data);
  return <svg ref={ref} className={`block w-full ${className}`} data-testid="graph" />;
}
