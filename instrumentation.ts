// Next.js calls register() once when the web app's server starts: the web
// app announces itself (PID and port) in Game Day's machine-wide registry,
// so no fault — from the worker or a standalone CLI — ever targets it, and
// network faults spare its port as control-plane traffic. The edge runtime
// has no /proc: only the Node.js server registers.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { registerSelf } = await import("./lib/procfs");
  const port = Number(process.env.PORT ?? 3000);
  try {
    const unregister = registerSelf(process.pid, Number.isInteger(port) && port > 0 ? [port] : []);
    process.once("exit", unregister);
  } catch {
    // a registry we cannot write (no /run, no tmp) must not keep the dashboard down; the worker's --protect-pid still covers it
  }
}
