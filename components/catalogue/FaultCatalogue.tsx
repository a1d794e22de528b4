"use client";
// The fault catalogue: every fault the worker has, by family, with what it
// does, whether this host can run it (and why not), its parameters, and Use,
// which hands the launch panel a complete experiment for it: the example file
// when there is one, else one written from the schema, aimed at the node
// picked in the graph.
import { useCallback, useEffect, useState } from "react";
import { API, FAULT_FAMILIES, type FaultCatalogue as Catalogue, type FaultInfo } from "@/lib/contract";
import { apiCall, errorLines } from "@/lib/web/api";
import { experimentFor, FAMILY_TITLES, paramRows, writtenExperiment } from "@/lib/web/catalogue";
import { time } from "@/lib/web/format";
import type { LaunchPreset } from "@/components/dashboard/LaunchPanel";

const button = "rounded-md border border-slate-600 px-2.5 py-0.5 text-xs font-medium text-slate-200 hover:bg-slate-800";

function ParamTable({ fault }: { fault: FaultInfo }) {
  const rows = paramRows(fault.params);
  if (!rows.length) return <p className="mt-1 text-[11px] text-slate-500">No parameters.</p>;
  return (
    <details className="mt-1.5">
      <summary className="cursor-pointer text-[11px] text-slate-400 hover:text-slate-200">Parameters ({rows.filter((r) => r.depth === 0).length})</summary>
      <table className="mt-1 w-full text-left text-[11px]" data-testid={`params-${fault.name}`}>
        <thead className="text-slate-500">
          <tr>
            <th className="pr-2 font-medium">name</th>
            <th className="pr-2 font-medium">type</th>
            <th className="pr-2 font-medium">default</th>
            <th className="font-medium">unit, limits</th>
          </tr>
        </thead>
        <tbody className="align-top text-slate-300">
          {rows.map((r) => (
            <tr key={r.name} className="border-t border-slate-800">
              <td className="py-0.5 pr-2 font-mono" style={{ paddingLeft: `${r.depth * 0.75}rem` }}>
                {r.name}
                {r.required ? <span className="ml-1 rounded bg-amber-900/60 px-1 font-sans text-[10px] text-amber-200">required</span> : null}
              </td>
              <td className="max-w-[14rem] break-words py-0.5 pr-2 font-mono text-slate-400">{r.type}</td>
              <td className="py-0.5 pr-2 font-mono">{r.default ?? ""}</td>
              <td className="py-0.5 text-slate-400">{[r.unit, ...r.notes].filter(Boolean).join("; ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

function FaultCard({ fault, onUse, generate }: { fault: FaultInfo; onUse: () => void; generate: () => void }) {
  const f = fault;
  return (
    <article
      data-testid={`fault-${f.name}`}
      data-available={String(f.available)}
      className={`rounded-lg border p-2.5 ${f.available ? "border-slate-700 bg-slate-950" : "border-slate-800 bg-slate-950/40 opacity-60"}`}
    >
      <div className="flex flex-wrap items-center gap-2">
        <span className="font-mono text-sm font-semibold text-sky-300">{f.name}</span>
        <span className="rounded bg-slate-800 px-1.5 py-0.5 text-[10px] text-slate-400" title={`selected by spec.targets.X.${f.target.selectors.join(" or .")}`}>
          {f.target.title}
        </span>
        <span className={`text-[11px] ${f.available ? "text-emerald-400" : "text-amber-400"}`}>{f.available ? "available" : "unavailable here"}</span>
        <div className="ml-auto flex gap-1.5">
          {f.example ? (
            <button type="button" className={`${button} text-slate-400`} onClick={generate} data-testid={`generate-${f.name}`} title="Write an experiment from the params' schema instead of the example file">
              From schema
            </button>
          ) : null}
          <button
            type="button"
            className="rounded-md bg-sky-700 px-2.5 py-0.5 text-xs font-semibold text-white hover:bg-sky-600"
            onClick={onUse}
            data-testid={`use-${f.name}`}
            title={f.available ? "Put an experiment for this fault into the launch panel" : `This host cannot run it now: ${f.reason ?? ""}`}
          >
            Use
          </button>
        </div>
      </div>
      <p className="mt-1 text-xs text-slate-300">{f.description}</p>
      {!f.available ? (
        <p className="mt-1 text-xs text-amber-300" data-testid={`fault-reason-${f.name}`}>
          {f.reason}
        </p>
      ) : f.detail ? (
        <p className="mt-1 text-[11px] text-slate-500">{f.detail}</p>
      ) : null}
      <p className="mt-1 text-[11px] text-slate-500">{f.example ? <>example: examples/{f.example.file}</> : "no example file: Use writes an experiment from the schema"}</p>
      <ParamTable fault={f} />
    </article>
  );
}

interface Props {
  picked: string | null;
  onClearPick: () => void;
  onUse: (preset: LaunchPreset) => void;
}

export function FaultCatalogue(props: Props) {
  const [catalogue, setCatalogue] = useState<Catalogue | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      setCatalogue(await apiCall<Catalogue>(API.faults, { signal }));
      setError(null);
    } catch (e) {
      if ((e as Error).name !== "AbortError") setError(errorLines(e).join("; "));
    }
  }, []);

  useEffect(() => {
    const ctrl = new AbortController();
    void load(ctrl.signal);
    return () => ctrl.abort();
  }, [load]);

  if (!catalogue) return <p className="py-4 text-center text-sm text-slate-500">{error ? `Cannot load the fault catalogue: ${error}` : "Loading the fault catalogue…"}</p>;
  return <CatalogueView {...props} catalogue={catalogue} error={error} reload={() => void load()} />;
}

/** The catalogue as loaded: families, cards, the picked node, the filter. */
export function CatalogueView({ catalogue, error, reload, picked, onClearPick, onUse }: Props & { catalogue: Catalogue; error: string | null; reload: () => void }) {
  const [filter, setFilter] = useState("");
  const words = filter.trim().toLowerCase();
  const shown = catalogue.faults.filter((f) => !words || `${f.name} ${f.description} ${f.family}`.toLowerCase().includes(words));
  const options = { node: picked, probe: catalogue.probe };
  const use = (f: FaultInfo) => onUse({ fault: f.name, ...experimentFor(f, options) });
  const generate = (f: FaultInfo) => onUse({ fault: f.name, ...writtenExperiment(f, options) });

  return (
    <div className="space-y-3" data-testid="fault-catalogue">
      <div className="flex flex-wrap items-center gap-3 text-xs text-slate-400">
        <input
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          placeholder="Filter faults…"
          data-testid="fault-filter"
          className="w-48 rounded-md border border-slate-700 bg-slate-950 px-2 py-1 text-sm text-slate-100 placeholder:text-slate-600 focus:border-sky-500 focus:outline-none"
        />
        <span data-testid="catalogue-node">
          {picked ? (
            <>
              Written experiments aim at node <span className="font-mono text-sky-300">{picked}</span> (picked in the graph){" "}
              <button type="button" className="text-sky-400 hover:underline" onClick={onClearPick}>
                clear
              </button>
            </>
          ) : (
            "Click a node in the graph to aim written experiments at it."
          )}
        </span>
        <span className="ml-auto">
          {catalogue.faults.filter((f) => f.available).length} of {catalogue.faults.length} available here · checked {time(catalogue.checkedAt)}{" "}
          <button type="button" className="text-sky-400 hover:underline" onClick={reload}>
            refresh
          </button>
        </span>
      </div>
      {error ? <p className="text-xs text-amber-400">Refresh failed: {error}</p> : null}
      <div className="grid gap-4 lg:grid-cols-2 2xl:grid-cols-3">
        {FAULT_FAMILIES.map((family) => {
          const of = shown.filter((f) => f.family === family);
          if (!of.length) return null;
          return (
            <section key={family} data-testid={`family-${family}`} className="space-y-2">
              <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">
                {FAMILY_TITLES[family]} <span className="font-normal normal-case text-slate-600">({of.length})</span>
              </h3>
              {of.map((f) => (
                <FaultCard key={f.name} fault={f} onUse={() => use(f)} generate={() => generate(f)} />
              ))}
            </section>
          );
        })}
      </div>
      {!shown.length ? <p className="text-sm text-slate-500">No fault matches “{filter}”.</p> : null}
    </div>
  );
}
