// Makes docs/post-mortem-example.pdf and its page-1 PNG from the demo system:
// examples/api-freeze.yaml against a fresh demo and worker (ports 16250+),
// with a participant's note and a review, as a team would leave them.
// Run: node --import tsx docs/example-report.ts (needs chromium, poppler-utils).
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { RunRecord } from "../lib/contract";
import { apiCall, ROOT, startDemo, startWorkerProcess, tempDir, tempHome, waitFor } from "../e2e/kit";

const BASE = 16_250;
const OUT = path.join(ROOT, "docs");
const demo = await startDemo(BASE, tempDir("gameday-docs-demo-"));
const worker = await startWorkerProcess(tempHome("gameday-docs-"), { topology: demo.topologyFile, env: { GAMEDAY_LEAD_OUT_MS: "8000", GAMEDAY_AUTO_REPORT: "0" } });
// interrupted: the demo and the worker go with us
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void Promise.all([worker.stop(), demo.stop()]).finally(() => process.exit(1)));
try {
  const yaml = fs.readFileSync(path.join(ROOT, "examples/api-freeze.yaml"), "utf8").replaceAll("127.0.0.1:4100", `127.0.0.1:${BASE}`);
  await new Promise((r) => setTimeout(r, 6000)); // a lead-in of steady traffic on the graph
  const { body } = await apiCall<{ run: RunRecord }>(worker, "POST", "/api/v1/runs", { yaml });
  const id = body.run.id;
  await waitFor("the freeze", async () => (await apiCall<{ run: RunRecord }>(worker, "GET", `/api/v1/runs/${id}`)).body.run.faults.some((f) => f.injectedAt), 30_000, 100);
  await apiCall(worker, "POST", `/api/v1/runs/${id}/notes`, { text: "frontend error rate climbing on the dashboard; api pods frozen" });
  await waitFor("the lead-out", async () => (await apiCall<{ events: { kind: string }[] }>(worker, "GET", `/api/v1/runs/${id}/events`)).body.events.some((e) => e.kind === "node-slis"), 60_000, 250);
  await apiCall(worker, "PUT", `/api/v1/runs/${id}/review`, {
    learned: "The frontend has no fallback when every api instance stops answering: requests wait for the 1 s timeout and fail. The monitor caught it and reverted every instance within milliseconds.",
    actions: "- frontend: serve a cached response when the api times out\n- api: add a liveness probe that restarts a frozen instance\n- run this experiment again after both land",
  });
  const res = await fetch(`${worker.url}/api/v1/runs/${id}/report.pdf`, { headers: { authorization: `Bearer ${worker.token}` } });
  if (!res.ok) throw new Error(`report: HTTP ${res.status}: ${await res.text()}`);
  const pdf = path.join(OUT, "post-mortem-example.pdf");
  fs.writeFileSync(pdf, Buffer.from(await res.arrayBuffer()));
  await promisify(execFile)("pdftoppm", ["-r", "70", "-png", "-f", "1", "-l", "1", "-singlefile", pdf, path.join(OUT, "post-mortem-example-page1")]);
  process.stdout.write(`${pdf}\n`);
} finally {
  await worker.stop();
  await demo.stop();
}
