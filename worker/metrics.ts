// The worker's own Prometheus metrics. The registry is a parameter so tests
// and embedders never share global state.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

const LABEL_STATE = ["state"] as const;
const LABEL_REASON = ["reason"] as const;

export interface WorkerMetrics {
  runs: Counter<(typeof LABEL_STATE)[number]>;
  activeFaults: Gauge;
  abortLatency: Histogram<(typeof LABEL_REASON)[number]>;
  breachToRevert: Histogram;
  injections: Counter<"fault">;
}

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  return {
    runs: new Counter({ name: "gameday_worker_runs_total", help: "Runs ended, by final state", labelNames: LABEL_STATE, registers: [registry] }),
    activeFaults: new Gauge({ name: "gameday_worker_active_faults", help: "Changes currently injected on this host", registers: [registry] }),
    abortLatency: new Histogram({
      name: "gameday_worker_abort_latency_seconds",
      help: "From the abort decision until every fault of the run was reverted",
      labelNames: LABEL_REASON,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    breachToRevert: new Histogram({
      name: "gameday_worker_breach_to_revert_seconds",
      help: "From a probe first leaving its tolerance until every fault was reverted (steady-state aborts)",
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30],
      registers: [registry],
    }),
    injections: new Counter({ name: "gameday_worker_injections_total", help: "Changes applied, by fault", labelNames: ["fault"], registers: [registry] }),
  };
}
