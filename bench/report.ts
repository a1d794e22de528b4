// How long a post-mortem takes: a synthetic one-hour run (3 probes sampled
// every 250 ms, 50 faults) rendered to HTML and printed to PDF by the shared
// Chromium, first with a cold browser (launch included) and then warm, ROUNDS
// times. The target is ≤ 5 s per PDF; this reports, it does not fail.
// Results go to bench/results/<timestamp>-report.json.
import fs from "node:fs";
import path from "node:path";
import { buildModel } from "../report/model";
import { renderHtml } from "../report/render";
import { PdfRenderer } from "../report/pdf";
import { syntheticRun } from "../report/synthetic";

const ROUNDS = 5;
const ROOT = path.resolve(import.meta.dirname, "..");
const input = syntheticRun({ durationMs: 3_600_000, tickMs: 250, probes: 3, faults: 50 });
const pdfs = new PdfRenderer();
const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
};
try {
  const rounds: { modelMs: number; htmlMs: number; pdfMs: number; totalMs: number; pdfBytes: number; htmlBytes: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const [model, modelMs] = await timed(async () => buildModel(input));
    const [html, htmlMs] = await timed(() => renderHtml(model));
    const [pdf, pdfMs] = await timed(() => pdfs.pdf(html, "synthetic-hour"));
    rounds.push({ modelMs, htmlMs, pdfMs, totalMs: modelMs + htmlMs + pdfMs, pdfBytes: pdf.length, htmlBytes: html.length });
  }
  const warm = rounds.slice(1).map((r) => r.totalMs).sort((a, b) => a - b);
  const r = { samples: input.samples.length, faults: input.run.faults.length, events: input.events.length, coldMs: rounds[0].totalMs, warmMedianMs: warm[Math.floor(warm.length / 2)], targetMs: 5000, rounds };
  const out = path.join(ROOT, "bench/results", `${new Date().toISOString().replace(/[:.]/g, "-")}-report.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(r, null, 2));
  const f = (x: (typeof rounds)[number]) => `model ${x.modelMs.toFixed(0)} ms + html ${x.htmlMs.toFixed(0)} ms + pdf ${x.pdfMs.toFixed(0)} ms = ${x.totalMs.toFixed(0)} ms`;
  process.stdout.write(
    `one-hour run (${r.samples} samples, ${r.faults} faults, ${r.events} events) → PDF of ${(rounds[0].pdfBytes / 1024).toFixed(0)} KiB\n` +
      `cold (Chromium launch included): ${f(rounds[0])}\nwarm (shared browser), median of ${warm.length}: ${r.warmMedianMs.toFixed(0)} ms (target ≤ ${r.targetMs} ms: ${(r.warmMedianMs / r.targetMs).toFixed(2)}× of it)\n${out}\n`,
  );
  if (process.env.REPORT_BENCH_PDF) fs.writeFileSync(process.env.REPORT_BENCH_PDF, await pdfs.pdf(await renderHtml(buildModel(input)), "synthetic-hour"));
} finally {
  await pdfs.close();
}
