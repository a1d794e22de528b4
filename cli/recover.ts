// gameday recover: revert what holders on this host left in place and could
// not revert themselves (a CLI or worker that died while its reaper was gone
// too, or a revert that did not verify). Runs the executor's recovery over
// this home's journals, then asks a reachable worker to retry the changes it
// holds that are not verified reverted.
import { Executor } from "../agent/executor";
import { journalDir } from "../agent/journal";
import { API, type UnrevertedChange } from "../lib/contract";
import { createLogger } from "../lib/log";
import { api, CliError, connection } from "./client";

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      `gameday recover — revert changes left on this host by standalone CLIs or a worker that did not finish, and ask the worker to retry changes it could not verify reverted\n  journals: ${journalDir()}\n`,
    );
    return 0;
  }
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const complain = (l: string) => process.stderr.write(`${l}\n`);
  const ex = new Executor({ command: "recover", reaper: false, log: createLogger({ component: "executor", command: "recover" }) });
  const r = await ex.start();
  let failed = r.failed.length + r.problems.length;
  for (const x of r.reverted) say(`reverted ${x.fault} on ${x.targetLabel}: ${x.detail}`);
  for (const x of r.failed) complain(`FAILED ${x.fault} on ${x.targetLabel}: ${x.detail}`);
  for (const p of r.problems) complain(`FAILED ${p}`);
  if (r.live) say(`${r.live} journal(s) belong to holders still running; left alone`);
  // what failed here was taken into this command's journal: leave it where the next recover or worker start finds it
  await ex.close();
  let asked = false;
  try {
    const conn = connection({});
    const w = await api<{ reverted: number; unreverted: UnrevertedChange[] }>(conn, "POST", API.recover);
    asked = true;
    if (w.reverted) say(`worker ${conn.url}: reverted ${w.reverted} change(s)`);
    for (const c of w.unreverted) complain(`worker ${conn.url}: STILL NOT REVERTED ${c.fault} on ${c.targetLabel} (run ${c.runId}): ${c.error ?? "not verified"}`);
    failed += w.unreverted.length;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    // no worker here, or not reachable: this host's journals were all there was to do
  }
  if (!r.reverted.length && !failed) say(asked ? "nothing to recover (the worker holds no unreverted change either)" : "nothing to recover");
  return failed ? 1 : 0;
}
