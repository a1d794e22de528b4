// A real Prometheus server for tests (Debian's `prometheus`): loopback only,
// a temporary data folder, a 1 s scrape of the targets given. It gets
// SIGKILL when the test process dies (setpriv --pdeathsig), so it never
// outlives the test.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { killHard, tempDir, waitFor } from "./kit";

export interface PromServer {
  url: string;
  child: ChildProcess;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

/** Why Prometheus cannot run here, or null. */
export function prometheusMissing(): string | null {
  for (const bin of ["/usr/bin/prometheus", "/usr/bin/setpriv"]) if (!fs.existsSync(bin)) return `${bin} is not installed (apt-get install prometheus util-linux; scripts/setup.sh does with GAMEDAY_SETUP_TEST=1)`;
  return null;
}

/** Start Prometheus on 127.0.0.1:port scraping `targets` (host:port) every second; `webConfig` is a --web.config.file YAML (TLS, basic auth). */
export async function startPrometheus(port: number, targets: string[], opts: { webConfig?: string; scheme?: "http" | "https"; caFile?: string } = {}): Promise<PromServer> {
  const dir = tempDir("gameday-prom-");
  const config = `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [${targets.map((t) => `"${t}"`).join(", ")}]\n`;
  fs.writeFileSync(path.join(dir, "prometheus.yml"), config);
  const args = ["--pdeathsig", "KILL", "--", "/usr/bin/prometheus", `--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"];
  if (opts.webConfig) {
    fs.writeFileSync(path.join(dir, "web.yml"), opts.webConfig);
    args.push(`--web.config.file=${path.join(dir, "web.yml")}`);
  }
  const child = spawn("/usr/bin/setpriv", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `${opts.scheme ?? "http"}://127.0.0.1:${port}`;
  try {
    await waitFor(
      "Prometheus to be ready",
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${stderr}`);
        // readiness over a plain TCP connect: with TLS or auth the page itself may refuse us
        const net = await import("node:net");
        return new Promise<boolean>((resolve) => {
          const s = net.connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
          s.on("error", () => resolve(false));
        });
      },
      20_000,
      100,
    );
  } catch (e) {
    await killHard(child, "SIGKILL");
    throw e;
  }
  return { url, child, stop: (signal = "SIGKILL") => killHard(child, signal) };
}

/** Wait until an instant query returns at least one series whose value `ok` accepts. */
export async function waitForQuery(url: string, query: string, ok: (v: number) => boolean = () => true, timeoutMs = 20_000): Promise<number> {
  return waitFor(
    `Prometheus to answer ${query}`,
    async () => {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
      const v = body.data?.result?.[0] ? Number(body.data.result[0].value[1]) : null;
      return v !== null && ok(v) ? { v } : null;
    },
    timeoutMs,
    200,
  ).then((r) => r.v);
}
