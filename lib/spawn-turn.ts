// Starting a program forks this process on the calling thread: a few
// milliseconds for a worker of a few hundred MB, every time. Twenty faults
// reverting at once start their iptables and tc commands in the same turn of
// the event loop, and the fork cost adds up into one long block that holds
// back the monitor's ticks and the abort timers (a quarter of a second seen).
// spawnTurn() lets one program start per turn of the loop (the check phase),
// so due timers run between two forks; an idle loop turns in microseconds,
// so nothing is slower when there is no crowd.
const waiting: (() => void)[] = [];
let draining = false;

function next(): void {
  waiting.shift()?.();
  if (waiting.length) setImmediate(next);
  else draining = false;
}

/** Resolves when the caller may start its program: one per turn of the event loop. */
export function spawnTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!draining) {
      draining = true;
      setImmediate(next);
    }
  });
}
