// gameday note RUN "text": a participant's timestamped observation on a run,
// shown in its timeline on the dashboard and in the post-mortem.
import { parseArgs } from "node:util";
import { API, type RunNote } from "../lib/contract";
import { api, CliError, connection } from "./client";

export async function main(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { url: { type: "string" }, token: { type: "string" }, help: { type: "boolean", short: "h", default: false } },
  });
  if (f.help) {
    process.stdout.write(`gameday note RUN "text" [--url URL] [--token TOKEN]\n  add a timestamped note to a run (it appears in its timeline and post-mortem)\n`);
    return 0;
  }
  const [run, ...words] = positionals;
  if (!run) throw new CliError('name the run and the note: gameday note RUN "text"');
  const text = words.join(" ").trim();
  if (!text) throw new CliError('the note is empty: gameday note RUN "text"');
  const { note } = await api<{ note: RunNote }>(connection(f), "POST", API.runNotes(run), { text });
  process.stdout.write(`note added to ${run} at ${note.at} by ${note.author}\n`);
  return 0;
}
