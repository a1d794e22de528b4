// Blast radius: how many of the matched targets a step hits, chosen with a
// seeded PRNG so a run's choices can be replayed.
import type { TargetSpec } from "../../lib/experiment";

/** Deterministic PRNG (mulberry32) so a run's choices can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFrom(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** How many of n matched targets the blast radius allows. */
export function blastCount(n: number, mode: TargetSpec["mode"], value?: number): number {
  switch (mode) {
    case "all":
      return n;
    case "one":
      return Math.min(1, n);
    case "count":
      return Math.min(n, value ?? 1);
    case "percent":
      return Math.min(n, Math.max(1, Math.floor((n * (value ?? 100)) / 100)));
  }
}

/** Pick blastCount targets at random (Fisher–Yates on a copy). */
export function applyBlastRadius<T>(items: T[], mode: TargetSpec["mode"], value: number | undefined, rnd: () => number): T[] {
  const k = blastCount(items.length, mode, value);
  if (k >= items.length) return [...items];
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}
