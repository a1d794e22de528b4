// /metrics: the collection's counts in Prometheus text, read at scrape time
// (nothing to keep in step). Names gameday_proxy_<thing>_total.
import { Counter, Gauge, type Registry } from "prom-client";
import type { ProxyCollection } from "./proxy";

const PROXY = ["proxy"] as const;
const TOXIC = ["proxy", "toxic", "type"] as const;

export function proxyMetrics(registry: Registry, proxies: ProxyCollection): void {
  const each = (fn: (c: Counter<string>, p: ReturnType<ProxyCollection["list"]>[number]) => void) =>
    function (this: Counter<string>) {
      this.reset();
      for (const p of proxies.list()) fn(this, p);
    };
  new Counter({ name: "gameday_proxy_connections_total", help: "Connections accepted", labelNames: PROXY, registers: [registry], collect: each((c, p) => c.inc({ proxy: p.name }, p.counts.connections)) });
  new Counter({ name: "gameday_proxy_requests_total", help: "HTTP requests seen (http proxies)", labelNames: PROXY, registers: [registry], collect: each((c, p) => c.inc({ proxy: p.name }, p.counts.requests)) });
  new Counter({
    name: "gameday_proxy_bytes_total",
    help: "Bytes relayed by closed connections, by direction",
    labelNames: ["proxy", "direction"],
    registers: [registry],
    collect: each((c, p) => {
      c.inc({ proxy: p.name, direction: "upstream" }, p.counts.bytes_up);
      c.inc({ proxy: p.name, direction: "downstream" }, p.counts.bytes_down);
    }),
  });
  for (const what of ["seen", "matched", "faulted"] as const)
    new Counter({
      name: `gameday_proxy_toxic_${what}_total`,
      help: `Connections or requests a toxic ${what === "seen" ? "was evaluated on" : what === "matched" ? "selected (match and toxicity)" : "actually changed"}`,
      labelNames: TOXIC,
      registers: [registry],
      collect: each((c, p) => {
        for (const t of p.toxics) c.inc({ proxy: p.name, toxic: t.name, type: t.type }, t.counts[what]);
      }),
    });
  new Gauge({
    name: "gameday_proxy_open_connections",
    help: "Connections open now",
    labelNames: PROXY,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of proxies.list()) this.set({ proxy: p.name }, p.connections);
    },
  });
}
