"use client";
import type { SliSeries } from "./createSliChart";
import { createSliChart } from "./createSliChart";
import { useD3 } from "@/lib/web/use-d3";

const create = (svg: SVGSVGElement) => createSliChart(svg);

export function SliChart({ series }: { series: SliSeries }) {
  const ref = useD3(create, series);
  return <svg ref={ref} className="block h-auto w-full" />;
}
