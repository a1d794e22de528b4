import type { ReactNode } from "react";

export function Card({ title, right, children, className = "", testId }: { title: string; right?: ReactNode; children: ReactNode; className?: string; testId?: string }) {
  return (
    <section className={`rounded-xl border border-slate-800 bg-slate-900/70 p-4 shadow-sm ${className}`} data-testid={testId}>
      <div className="mb-3 flex items-center gap-3">
        <h2 className="text-sm font-semibold uppercase tracking-wider text-slate-400">{title}</h2>
        {right ? <div className="ml-auto flex items-center gap-2">{right}</div> : null}
      </div>
      {children}
    </section>
  );
}
