// gameday report RUN [-o FILE] [--html | --bundle]: the run's post-mortem as
// a PDF (rendered by the worker's Chromium), as one self-contained HTML file,
// or its replay bundle (JSON with a sha256 manifest).
import fs from "node:fs";
import { parseArgs } from "node:util";
import { API } from "../lib/contract";
import { CliError, connection, download } from "./client";

const HELP = `gameday report RUN [-o FILE] [--html | --bundle] [--url URL] [--token TOKEN]
  the post-mortem of a run as a PDF (default), --html as one self-contained HTML
  file, or --bundle as the replay bundle (experiment, seeds, versions, events,
  samples, notes; sha256 manifest). Default FILE: gameday-RUN.pdf / .html / .replay.json`;

export async function main(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      output: { type: "string", short: "o" },
      html: { type: "boolean", default: false },
      bundle: { type: "boolean", default: false },
      url: { type: "string" },
      token: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (f.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const run = positionals[0];
  if (!run) throw new CliError("name the run to report on (see gameday status)");
  if (positionals.length > 1) throw new CliError(`one run at a time (got ${positionals.join(", ")})`);
  if (f.html && f.bundle) throw new CliError("give --html or --bundle, not both");
  const [route, ext] = f.bundle ? [API.runBundle(run), "replay.json"] : f.html ? [API.runReport(run, "html"), "html"] : [API.runReport(run), "pdf"];
  const file = f.output ?? `gameday-${run}.${ext}`;
  const bytes = await download(connection(f), route);
  try {
    fs.writeFileSync(file, bytes);
  } catch (e) {
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
  }
  process.stdout.write(`${file} (${Math.round(bytes.length / 1024)} KiB)\n`);
  return 0;
}
