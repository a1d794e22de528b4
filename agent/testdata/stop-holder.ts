// Test holder: SIGSTOPs PID argv[3] through an executor with its reaper, says so, then waits to be killed.
import "../../injectors";
import { readProc } from "../../lib/procfs";
import { Executor } from "../executor";

const [dir, pidText] = process.argv.slice(2);
const p = readProc(Number(pidText))!;
const ex = new Executor({ command: "stop-holder", dir });
await ex.start();
await ex.apply({ runId: "h", step: 0, targetName: "v", fault: "process-kill", target: { kind: "process", pid: p.pid, startTime: p.startTime, comm: p.comm, cmdline: p.cmdline }, params: { signal: "STOP" } }, new AbortController().signal);
process.stdout.write("injected\n");
setInterval(() => undefined, 1000);
