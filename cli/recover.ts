// gameday recover: revert what a standalone CLI recorded in its journal and
// could not revert itself (it was killed, or a revert failed). Every other
// standalone command does this at start too; this runs it alone.
import { recoverLocalJournals, journalDir } from "../lib/local-journal";

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`gameday recover — revert changes left by standalone CLIs that did not finish\n  journals: ${journalDir()}\n`);
    return 0;
  }
  const r = await recoverLocalJournals();
  for (const x of r.reverted) process.stdout.write(`reverted ${x.fault} on ${x.target}: ${x.detail}\n`);
  for (const x of r.failed) process.stderr.write(`FAILED ${x.fault} on ${x.target}: ${x.detail}\n`);
  if (r.live) process.stdout.write(`${r.live} journal(s) belong to CLIs still running; left alone\n`);
  if (!r.reverted.length && !r.failed.length) process.stdout.write("nothing to recover\n");
  return r.failed.length ? 1 : 0;
}
