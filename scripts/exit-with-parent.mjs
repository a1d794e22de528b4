// Preload (`node --import ./scripts/exit-with-parent.mjs …`) for the processes
// that `make up` and the tests start: the worker, the web app, the demo system
// and standalone CLIs. Node has no PR_SET_PDEATHSIG, so when whoever started us
// dies (even by SIGKILL) we are re-parented; noticing that by polling ppid and
// sending ourselves SIGTERM lets the program's own handler revert what it holds
// and exit, instead of lingering on a fixed port. Not for the reaper, whose job
// is to outlive its holder, nor for a worker a user runs as a daemon.
// Our stdout and stderr are usually pipes to that parent: once it is gone a
// write fails with EPIPE, which must not crash the clean-up it is logging.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code !== "EPIPE") throw e;
  });
}
const parent = process.ppid;
if (parent > 1) {
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, 500);
  timer.unref();
}
