// The post-mortem page: plain React (no hooks, no client state) so the worker
// renders it to static markup. Charts and the architecture graph are empty
// <svg>s filled by the dashboard's own D3 functions (draw.ts, inlined) with
// the data in #report-data; print styles in report.css.
import type { FaultRecord } from "@/lib/contract";
import type { ReportModel, TimelineRow } from "@/report/model";
import { formatValue } from "@/components/chart/createSliChart";
import { ms, pct, thresholdText } from "@/lib/web/format";

/** Exact times: UTC with milliseconds, so a report reads the same anywhere. */
export function utc(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(11, 23);
}

const utcDate = (iso: string | null | undefined) => (iso ? new Date(iso).toISOString().slice(0, 19).replace("T", " ") + " UTC" : "—");
function msText(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "—";
  // an automatic abort is decided on the breaching sample itself: sub-millisecond, not "0 ms"
  if (v < 1) return "< 1 ms";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(2)} s`;
  const min = Math.floor(v / 60_000);
  return `${min} min ${Math.round((v - min * 60_000) / 1000)} s`;
}
/** A long list (50 faults' targets) stays one line: the faults table has them all. */
const few = (xs: string[], n = 6) => (xs.length <= n ? xs.join(", ") : `${xs.slice(0, n).join(", ")} and ${xs.length - n} more`);
const offsetText = (ms: number) => `${ms < 0 ? "−" : "+"}${(Math.abs(ms) / 1000).toFixed(3)} s`;
const val = (measure: string, v: number | null) => (v === null ? "—" : formatValue(measure, v));

const VERDICT: Record<ReportModel["verdict"], string> = {
  held: "Hypothesis held",
  refuted: "Hypothesis refuted",
  inconclusive: "Inconclusive",
  failed: "Run failed",
  aborted: "Aborted",
  running: "In progress",
};

function TitlePage({ m }: { m: ReportModel }) {
  const { run } = m.input;
  const facts: [string, string][] = [
    ["Run", run.id],
    ["Date", utcDate(run.startedAt ?? run.createdAt)],
    ["Duration", msText(m.times.durationMs)],
    ["Launched by", run.startedBy],
    ["Present", m.participants.join(", ")],
    ["State", `${run.state}${run.abort ? ` (${run.abort.reason})` : ""}`],
  ];
  return (
    <section className="title-page">
      <p className="kicker">Game Day · post-mortem</p>
      <h1>{run.name}</h1>
      <p className="hypothesis">
        <span>Hypothesis</span> {run.hypothesis}
      </p>
      <div className={`outcome verdict-${m.verdict}`} data-testid="outcome">
        <p className="verdict">{VERDICT[m.verdict]}</p>
        <p className="sentence">{m.outcome}</p>
        {m.irreversible.length ? (
          <p className="bad" data-testid="irreversible">
            IRREVERSIBLE: {m.irreversible.length} change{m.irreversible.length === 1 ? "" : "s"} could not be undone; what they hit did not come back.
          </p>
        ) : null}
      </div>
      <div className="kpis">
        <Kpi label="Time to detect" value={msText(m.times.detectMs)} note="first injection → breach" />
        <Kpi label="Time to abort" value={msText(m.times.abortMs)} note="breach → abort decided" />
        <Kpi label="Time to revert" value={msText(m.times.revertMs)} note={`${m.times.revertFrom} → all verified reverted`} />
        <Kpi label="Faults" value={`${run.faults.filter((f) => f.verified).length}/${run.faults.length}`} note="verified reverted" />
      </div>
      <dl className="facts">
        {facts.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {run.error ? <p className="error">Error: {run.error}</p> : null}
      {run.abort ? <p className="abort-msg">Abort: {run.abort.message}</p> : null}
    </section>
  );
}

function Kpi({ label, value, note }: { label: string; value: string; note: string }) {
  return (
    <div className="kpi">
      <p className="kpi-label">{label}</p>
      <p className="kpi-value">{value}</p>
      <p className="kpi-note">{note}</p>
    </div>
  );
}

function Charts({ m }: { m: ReportModel }) {
  const leadIn = m.span.methodStartMs !== null ? m.span.methodStartMs - m.span.fromMs : null;
  const leadOut = m.span.endMs !== null ? m.span.toMs - m.span.endMs : null;
  return (
    <section>
      <h2>Steady state</h2>
      <p className="muted">
        Every SLI over the run with its lead-in ({msText(leadIn)} before the method) and lead-out ({msText(leadOut)} after the end). Orange: a fault in place; dashed red:
        the tolerance, its failing side shaded; red dots: samples out of tolerance.
      </p>
      {m.probes.map((p) => (
        <figure key={p.name} className="chart">
          <figcaption>
            <b>{p.name}</b> <span className="muted">{p.measure}</span>
            <span className="right">tolerance {thresholdText(p.tolerance)}</span>
          </figcaption>
          <svg data-sli={p.name} />
        </figure>
      ))}
    </section>
  );
}

function Blast({ m }: { m: ReportModel }) {
  const b = m.blast;
  return (
    <section>
      <h2>Blast radius</h2>
      {m.input.topology ? (
        <figure className="graph">
          <svg data-graph="1" />
          <figcaption className="muted">
            Architecture: nodes with a fault during the run are ringed in red; each shows the worst SLIs the worker saw from the first fault to the end of the lead-out.
          </figcaption>
        </figure>
      ) : null}
      <p>
        <b>Targeted:</b> {b.targetedNodes.length ? `node${b.targetedNodes.length > 1 ? "s" : ""} ${b.targetedNodes.join(", ")}; ` : ""}
        {b.targets.length} target{b.targets.length === 1 ? "" : "s"} ({few(b.targets) || "none"}).{" "}
        <b>Moved:</b> {b.probes.filter((p) => p.moved).map((p) => p.probe).join(", ") || "nothing measurable"}
        {b.movedUntargeted.length ? `; beyond the targeted nodes: ${b.movedUntargeted.join(", ")}` : ""}.
      </p>
      {b.nodes ? (
        <table>
          <thead>
            <tr>
              <th>Node</th>
              <th>Targeted</th>
              <th className="num">Success before → worst</th>
              <th className="num">p95 before → worst</th>
              <th className="num">Up before → worst</th>
              <th>Verdict</th>
            </tr>
          </thead>
          <tbody>
            {b.nodes.map((n) => (
              <tr key={n.node}>
                <td>{n.node}</td>
                <td>{n.targeted ? "yes" : "no"}</td>
                <td className="num">
                  {pct(n.before?.successRate ?? null)} → {pct(n.worst.successRate)}
                </td>
                <td className="num">
                  {ms(n.before?.p95LatencyMs ?? null)} → {ms(n.worst.p95LatencyMs)}
                </td>
                <td className="num">
                  {n.before ? `${n.before.instancesUp}/${n.before.instancesTotal}` : "—"} → {n.worst.instancesUp}/{n.worst.instancesTotal}
                </td>
                <td className={n.moved ? (n.targeted ? "warn" : "bad") : "ok"}>{n.moved ? (n.targeted ? "moved" : "moved, not targeted") : "steady"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <table>
        <thead>
          <tr>
            <th>SLI</th>
            <th>Tolerance</th>
            <th className="num">Lead-in</th>
            <th className="num">Worst under fault</th>
            <th className="num">Lead-out</th>
            <th>Verdict</th>
          </tr>
        </thead>
        <tbody>
          {b.probes.map((p) => (
            <tr key={p.probe}>
              <td>
                {p.probe} <span className="muted">{p.measure}</span>
              </td>
              <td>{thresholdText(p.tolerance)}</td>
              <td className="num">{val(p.measure, p.baseline)}</td>
              <td className={`num ${p.leftTolerance ? "bad" : ""}`}>{val(p.measure, p.worst)}</td>
              <td className="num">{val(p.measure, p.after)}</td>
              <td className={p.leftTolerance ? "bad" : p.moved ? "warn" : "ok"}>{p.leftTolerance ? "left tolerance" : p.moved ? "moved" : "steady"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Faults({ faults }: { faults: FaultRecord[] }) {
  return (
    <section>
      <h2>Faults</h2>
      {faults.length ? (
        <table>
          <thead>
            <tr>
              <th>Target</th>
              <th>Fault</th>
              <th>Injected (UTC)</th>
              <th>Reverted (UTC)</th>
              <th>Verified</th>
            </tr>
          </thead>
          <tbody>
            {faults.map((f) => (
              <tr key={f.id}>
                <td>
                  <span className="mono">{f.targetLabel}</span>
                  {f.node ? <span className="muted"> ({f.node})</span> : null}
                </td>
                <td>
                  <span className="mono">{f.fault}</span>
                  {f.irreversible ? <span className="bad"> IRREVERSIBLE</span> : null}
                  {f.detail ? <span className="detail">{f.detail}</span> : null}
                </td>
                <td className="mono">{utc(f.injectedAt)}</td>
                <td className="mono">{f.irreversible ? <span className="bad">cannot be undone</span> : utc(f.revertedAt)}</td>
                <td className={f.verified ? "ok" : f.verified === false ? "bad" : ""}>{f.verified ? "yes" : f.verified === false ? `no: ${f.error ?? ""}` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No fault was injected.</p>
      )}
    </section>
  );
}

function Timeline({ rows }: { rows: TimelineRow[] }) {
  return (
    <section>
      <h2>Timeline</h2>
      <table className="timeline">
        <thead>
          <tr>
            <th>Time (UTC)</th>
            <th className="num">Run clock</th>
            <th>Event</th>
            <th>What happened</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i} className={`kind-${r.kind}`}>
              <td className="mono">{utc(r.at)}</td>
              <td className="mono num">{offsetText(r.monoMs)}</td>
              <td className="kind">{r.kind}</td>
              <td>{r.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Review({ m }: { m: ReportModel }) {
  const { notes, review } = m.input;
  const para = (t: string) => t.split(/\n{2,}/).map((p, i) => <p key={i}>{p}</p>);
  return (
    <section className="keep">
      <h2>Participants&apos; notes</h2>
      {notes.length ? (
        <ul className="notes">
          {notes.map((n) => (
            <li key={n.id}>
              <span className="mono">{utc(n.at)}</span> <b>{n.author}</b>: {n.text}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No notes were taken (add them during a run on the dashboard or with gameday note RUN &quot;text&quot;).</p>
      )}
      <h2>What we learned</h2>
      {review?.learned ? para(review.learned) : <p className="muted">Not written yet (edit it on the run page before exporting).</p>}
      <h2>Actions</h2>
      {review?.actions ? (
        <ul>
          {review.actions
            .split("\n")
            .map((a) => a.replace(/^\s*[-*]\s*/, "").trim())
            .filter(Boolean)
            .map((a, i) => (
              <li key={i}>{a}</li>
            ))}
        </ul>
      ) : (
        <p className="muted">None recorded.</p>
      )}
      {review?.updatedBy ? (
        <p className="muted">
          Last edited by {review.updatedBy}, {utcDate(review.updatedAt)}.
        </p>
      ) : null}
    </section>
  );
}

function Appendix({ m }: { m: ReportModel }) {
  const { input } = m;
  return (
    <section className="appendix">
      <h2>Appendix</h2>
      <h3>Experiment as run</h3>
      <pre>{input.experimentYaml}</pre>
      <h3>Mechanisms</h3>
      {m.mechanisms.length ? (
        <ul>
          {m.mechanisms.map((x) => (
            <li key={`${x.fault}|${x.detail}`}>
              <span className="mono">{x.fault}</span>: {x.detail}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No fault was injected.</p>
      )}
      <h3>Versions and seed</h3>
      <dl className="facts small">
        {Object.entries({ ...input.versions, "random seed": input.seed === null ? "—" : String(input.seed), "report generated": utcDate(input.generatedAt) }).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd className="mono">{v}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

export function Report({ m }: { m: ReportModel }) {
  return (
    <main className="report">
      <TitlePage m={m} />
      <Blast m={m} />
      <Charts m={m} />
      <Timeline rows={m.timeline} />
      <Faults faults={m.input.run.faults} />
      <Review m={m} />
      <Appendix m={m} />
    </main>
  );
}
