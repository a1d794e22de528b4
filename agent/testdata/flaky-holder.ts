// Test holder: applies the flaky fault (which fails half-way and whose
// reverts fail) on PID argv[4], says so, then waits to be killed.
import "../../e2e/flaky-injector";
import "../../injectors";
import { readProc } from "../../lib/procfs";
import { Executor } from "../executor";

const [dir, ctl, pidText] = process.argv.slice(2);
const p = readProc(Number(pidText))!;
const ex = new Executor({ command: "flaky-holder", dir, reaper: false, revertDeadlineMs: 200 });
await ex.start();
await ex
  .apply({ runId: "h", step: 0, targetName: "v", fault: "test-flaky-stop", target: { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline }, params: { control: ctl } }, new AbortController().signal)
  .catch(() => undefined);
await ex.journal.save();
process.stdout.write(`to-revert ${ex.blocking().length}\n`);
setInterval(() => undefined, 1000);
