"use client";
import { useState } from "react";
import { API, type ExampleInfo, type RunRecord } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";
import { irreversibleWarning } from "@/lib/web/irreversible";

const REASON_CHARS = 70;
const SHOWN_TARGETS = 8;

/** What the worker's validate answers as the plan (agent/plan.ts): exactly what a run would hit now. */
interface PlanView {
  steps: { index: number; fault: string; target: string; matched: string[]; hits: number; random: boolean; protected: { pid: number; comm: string; reason: string }[]; spare?: number[]; problem?: string; irreversible?: boolean }[];
  refusals: { path: string; message: string }[];
}

function PlanList({ plan }: { plan: PlanView }) {
  return (
    <div data-testid="launch-plan" className="space-y-1 rounded-md border border-slate-700 bg-slate-950 p-2 text-xs text-slate-300">
      <p className="font-medium text-slate-200">What a run would hit now</p>
      {plan.steps.map((st) => (
        <div key={st.index} data-testid="plan-step">
          {st.irreversible ? (
            <span data-testid="plan-irreversible" title="Its changes cannot be undone: nothing comes back on revert" className="mr-1 rounded bg-red-700 px-1.5 py-0.5 text-[10px] font-bold uppercase tracking-wide text-white">
              IRREVERSIBLE
            </span>
          ) : null}
          <span className="font-mono text-sky-300">{st.fault}</span> on <span className="font-mono">{st.target}</span>:{" "}
          {st.problem ? (
            <span className="text-amber-400">{st.problem}</span>
          ) : (
            <>
              {st.hits} of {st.matched.length} matched{st.random && st.hits < st.matched.length ? " (picked at random each round)" : ""}
              {st.matched.length ? `: ${st.matched.slice(0, SHOWN_TARGETS).join(", ")}${st.matched.length > SHOWN_TARGETS ? `, … ${st.matched.length - SHOWN_TARGETS} more` : ""}` : ""}
              {st.protected.length ? <span className="text-slate-500"> — {st.protected.length} protected, never hit</span> : null}
              {st.spare?.length ? <span className="text-slate-500"> — spares ports {st.spare.join(", ")}</span> : null}
            </>
          )}
        </div>
      ))}
      {plan.refusals.map((r) => (
        <p key={r.path + r.message} className="text-red-300">
          refused: {r.path}: {r.message}
        </p>
      ))}
    </div>
  );
}

function optionText(e: ExampleInfo): string {
  if (e.runnable) return e.name;
  const reason = e.reason ?? "not runnable here";
  return `${e.name} — unavailable: ${reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS)}…` : reason}`;
}

/** An experiment handed to the panel from elsewhere (the fault catalogue's Use); the panel is keyed by it, so it starts afresh. */
export interface LaunchPreset {
  yaml: string;
  /** where it came from, e.g. examples/api-freeze.yaml */
  source: string;
  fault: string;
}

export function LaunchPanel({
  examples,
  examplesError,
  canOperate,
  onLaunched,
  preset,
}: {
  examples: ExampleInfo[];
  examplesError: string | null;
  canOperate: boolean;
  onLaunched: (run: RunRecord, yaml: string) => void;
  preset?: LaunchPreset | null;
}) {
  const [file, setFile] = useState("");
  const [yaml, setYaml] = useState(preset?.yaml ?? "");
  const [busy, setBusy] = useState<"validate" | "launch" | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [plan, setPlan] = useState<PlanView | null>(null);
  /** the YAML the plan was made from, and the irreversible steps awaiting a yes */
  const [planned, setPlanned] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string[] | null>(null);

  function pick(f: string) {
    setFile(f);
    const ex = examples.find((e) => e.file === f);
    if (ex) setYaml(ex.yaml);
    setErrors([]);
    setNotice(null);
    setPlan(null);
    setConfirming(null);
  }
  const description = examples.find((e) => e.file === file)?.description;

  async function validate() {
    setBusy("validate");
    setErrors([]);
    setNotice(null);
    setPlan(null);
    setConfirming(null);
    try {
      const r = await apiCall<{ ok: true; plan?: PlanView }>(API.validate, { body: { yaml } });
      if (r.plan) setPlan(r.plan);
      setPlanned(yaml);
      setNotice(r.plan?.refusals.length ? "Valid YAML, but spec.safety refuses it (below)." : "Valid: ready to launch.");
    } catch (e) {
      setErrors(errorLines(e));
    } finally {
      setBusy(null);
    }
  }

  async function launch(confirmed = false) {
    setBusy("launch");
    setErrors([]);
    setNotice(null);
    setConfirming(null);
    try {
      if (!confirmed) {
        // what cannot be undone is asked about first, from a plan of exactly this YAML
        let p = planned === yaml ? plan : null;
        if (!p) {
          p = (await apiCall<{ ok: true; plan?: PlanView }>(API.validate, { body: { yaml } })).plan ?? null;
          setPlan(p);
          setPlanned(yaml);
        }
        const warning = p ? irreversibleWarning(p.steps) : [];
        if (warning.length) {
          setConfirming(warning);
          return;
        }
      }
      const r = await apiCall<{ run: RunRecord }>(API.runs, { body: { yaml } });
      setNotice(`Launched ${r.run.name} (${r.run.id}).`);
      onLaunched(r.run, yaml);
    } catch (e) {
      setErrors(errorLines(e));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="flex flex-col gap-3">
      <label className="block text-xs font-medium text-slate-400">
        Example
        <select
          data-testid="example-select"
          value={file}
          onChange={(e) => pick(e.target.value)}
          className="mt-1 block w-full rounded-md border border-slate-700 bg-slate-950 px-2 py-1.5 text-sm text-slate-100 focus:border-sky-500 focus:outline-none"
        >
          <option value="">{examples.length ? "Choose an example…" : "No examples"}</option>
          {examples.map((e) => (
            <option key={e.file} value={e.file} disabled={!e.runnable} title={e.reason ?? e.description}>
              {optionText(e)}
            </option>
          ))}
        </select>
      </label>
      {description ? <p className="-mt-1 text-xs text-slate-400">{description}</p> : null}
      {examplesError ? <p className="text-xs text-amber-400">Examples unavailable: {examplesError}</p> : null}
      {preset && !file ? (
        <p className="-mt-1 text-xs text-slate-400" data-testid="launch-source">
          From the fault catalogue: <span className="font-mono text-sky-300">{preset.fault}</span>, {preset.source}. Edit it, then Validate.
        </p>
      ) : null}
      <label className="block text-xs font-medium text-slate-400">
        Experiment YAML
        <textarea
          data-testid="experiment-yaml"
          value={yaml}
          onChange={(e) => {
            setYaml(e.target.value);
            setConfirming(null);
          }}
          spellCheck={false}
          placeholder={"apiVersion: gameday/v1\nkind: Experiment\n…"}
          rows={16}
          className="mt-1 block w-full resize-y rounded-md border border-slate-700 bg-slate-950 p-2 font-mono text-xs leading-relaxed text-slate-100 focus:border-sky-500 focus:outline-none"
        />
      </label>
      <div className="flex min-w-0 items-center gap-2">
        <button
          type="button"
          data-testid="validate"
          disabled={busy !== null || !yaml.trim()}
          onClick={() => void validate()}
          className="rounded-md border border-slate-600 px-4 py-1.5 text-sm font-medium text-slate-200 hover:bg-slate-800 disabled:opacity-40"
        >
          {busy === "validate" ? "Validating…" : "Validate"}
        </button>
        <button
          type="button"
          data-testid="launch"
          disabled={busy !== null || !yaml.trim() || !canOperate}
          title={canOperate ? "Start this experiment" : "Launching needs the operator role"}
          onClick={() => void launch()}
          className="rounded-md bg-sky-600 px-4 py-1.5 text-sm font-semibold text-white hover:bg-sky-500 disabled:opacity-40"
        >
          {busy === "launch" ? "Launching…" : "Launch"}
        </button>
        {notice ? (
          <span className="truncate text-xs text-emerald-400" data-testid="launch-notice" title={notice}>
            {notice}
          </span>
        ) : null}
      </div>
      {confirming ? (
        <div data-testid="irreversible-confirm" role="alertdialog" aria-label="Confirm an irreversible run" className="space-y-2 rounded-md border border-red-600 bg-red-950/60 p-2 text-xs text-red-200">
          <p className="font-semibold text-red-100">IRREVERSIBLE: this run makes changes that cannot be undone.</p>
          <ul className="list-disc space-y-0.5 pl-4">
            {confirming.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
          <div className="flex gap-2">
            <button type="button" data-testid="irreversible-launch" onClick={() => void launch(true)} className="rounded-md bg-red-600 px-3 py-1 font-semibold text-white hover:bg-red-500">
              Launch anyway
            </button>
            <button type="button" data-testid="irreversible-cancel" onClick={() => setConfirming(null)} className="rounded-md border border-slate-600 px-3 py-1 text-slate-200 hover:bg-slate-800">
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {plan ? <PlanList plan={plan} /> : null}
      {errors.length ? (
        <ul data-testid="launch-errors" className="max-h-48 space-y-0.5 overflow-y-auto rounded-md border border-red-800 bg-red-950/40 p-2 font-mono text-xs text-red-300">
          {errors.map((l, i) => (
            <li key={i}>{l}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
