// Runs stress-ng on behalf of an injector and ties its life to the injector's:
// stress-ng gets SIGKILL when this process dies (setpriv --pdeathsig; its own
// workers follow their parent the same way), and this process kills its whole
// process group when its parent is gone or on SIGTERM. stress-ng renames its
// workers, so this tagged process is what revert finds.
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";

const { values: a, positionals } = parseArgs({ options: { tag: { type: "string" }, parent: { type: "string" } }, strict: true, allowPositionals: true });
const parent = Number(a.parent);
if (!a.tag || !Number.isInteger(parent) || positionals.length === 0) {
  process.stderr.write("usage: stress-ng.mjs --tag TAG --parent PID -- STRESS-NG-ARGS...\n");
  process.exit(2);
}

const killGroup = () => {
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    process.exit(1);
  }
};
const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", "stress-ng", ...positionals], { stdio: "ignore" });
child.on("error", () => process.exit(127));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
process.on("SIGTERM", killGroup);
process.on("SIGINT", killGroup);
setInterval(() => {
  if (process.ppid !== parent) killGroup();
}, 250);
