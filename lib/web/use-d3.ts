"use client";
// React side of the build-once D3 pattern: the chart is created when the <svg>
// mounts, fed new data with update(), and torn down with destroy() on unmount.
import { useEffect, useRef, type RefObject } from "react";

export interface D3Handle<T> {
  update(data: T): void;
  destroy(): void;
}

/** `create` must be stable (a module-level function or a memoised closure). */
export function useD3<T>(create: (svg: SVGSVGElement) => D3Handle<T>, data: T): RefObject<SVGSVGElement | null> {
  const ref = useRef<SVGSVGElement | null>(null);
  const handle = useRef<D3Handle<T> | null>(null);

  useEffect(() => {
    if (!ref.current) return;
    const h = create(ref.current);
    handle.current = h;
    return () => {
      h.destroy();
      handle.current = null;
    };
  }, [create]);

  // Declared after the effect above, so on mount it runs once the chart exists.
  useEffect(() => {
    handle.current?.update(data);
  }, [data, create]);

  return ref;
}
