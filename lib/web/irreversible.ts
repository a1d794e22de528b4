// What the launch panel asks before a run whose plan has changes that cannot
// be undone (agent/plan.ts marks such steps irreversible).
export interface PlannedStepLike {
  index: number;
  fault: string;
  target: string;
  hits: number;
  matched: string[];
  irreversible?: boolean;
}

export function irreversibleSteps<S extends PlannedStepLike>(steps: S[]): S[] {
  return steps.filter((s) => s.irreversible);
}

/** One line per irreversible step: what it would hit now. */
export function irreversibleWarning(steps: PlannedStepLike[], shown = 5): string[] {
  return irreversibleSteps(steps).map(
    (s) =>
      `step ${s.index}: ${s.fault} on "${s.target}" hits ${s.hits} of ${s.matched.length}${s.matched.length ? ` (${s.matched.slice(0, shown).join(", ")}${s.matched.length > shown ? `, … ${s.matched.length - shown} more` : ""})` : ""}; nothing comes back on revert`,
  );
}
