"use client";
// One list from the worker API, reloaded after every change made through
// act(), with the error of the last load or change.
import { useCallback, useEffect, useState } from "react";
import { apiCall, errorLines } from "@/lib/web/api";

export function useApiList<T>(path: string, key: string, onChange: () => void) {
  const [items, setItems] = useState<T[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    () =>
      apiCall<Record<string, T[]>>(path).then(
        (r) => setItems(r[key] ?? []),
        (e: unknown) => setError(errorLines(e).join("; ")),
      ),
    [path, key],
  );
  useEffect(() => void load(), [load]);

  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      onChange();
    } catch (e) {
      setError(errorLines(e).join("; "));
    }
    await load();
  };
  return { items, error, act };
}
