// Turning a target spec (a topology node, a process selector, a path, the
// host or a slice of network traffic, plus a blast radius) into concrete
// targets with a stable identity. Injectors never see selectors; they get one
// concrete target at a time. Importing this module registers every target
// kind; the order below is the kinds' precedence when a raw spec names more
// than one selector.
import "./process";
import "./network";
import "./path";
import "./host";
import "./container";
import "./instance";

export { getTargetKind, registerTargetKind, resolveTargets, targetId, targetKindNames, targetLabel } from "./registry";
export type { ResolveContext, TargetKindDef, TargetResolution } from "./registry";
export { compileSelector, describeSelector, resolveProcesses, runsProgram, selectorFor } from "./process";
export type { ProcessMatcher, Resolution } from "./process";
export { resolveNetwork } from "./network";
export type { NetworkResolution } from "./network";
export { applyBlastRadius, blastCount, seededRandom, seedFrom } from "./blast";
export { describeContainerSelector, resolveContainers } from "./container";
export type { ContainerTarget } from "./container";
export { describeInstanceSelector, resolveInstances } from "./instance";
export type { InstanceTarget } from "./instance";
