// Pieces the access page's cards share: a table with a header row, an error
// line, and the look of form controls.
import type { ReactNode } from "react";

export const INPUT = "rounded-md border border-slate-700 bg-slate-950 px-2 py-1 text-sm text-slate-100";
export const SUBMIT = "rounded-md bg-sky-700 px-3 py-1 text-sm font-semibold text-white hover:bg-sky-600";

export function Table({ columns, children }: { columns: string[]; children: ReactNode }) {
  return (
    <table className="w-full text-left text-sm">
      <thead className="text-xs uppercase text-slate-500">
        <tr>
          {columns.map((c, i) => (
            <th key={i} className={i === 0 ? "py-1" : undefined}>
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? (
    <p className="mt-2 text-sm text-red-300" role="alert">
      {error}
    </p>
  ) : null;
}
