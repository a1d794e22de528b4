// What a container fault did, from the engine's own event log: the pause and
// unpause, the kill with its signal, the die with its exit code, the stop,
// the restart and the start, each with its time, for this container since
// the change was planned. The events outlive the revert, so effect() asks
// for them then (the reaper can too: the address travels with the target).
// The engine keeps only its latest events: none at all for the container is
// no evidence either way (null), never "touched nothing".
import type { ContainerTarget } from "../targets/container";
import { docker } from "./engine";

export interface EngineEvent {
  action: string;
  /** unix ms */
  at: number;
  attributes: Record<string, string>;
}

const EVENTS_TIMEOUT_MS = 5000;

/** The container's events between since (unix ms) and now, oldest first; null when the engine cannot say. */
export async function containerEvents(t: ContainerTarget, since: number): Promise<EngineEvent[] | null> {
  try {
    const d = await docker(t.engine);
    // until bounds the stream: it ends once the engine has sent what it has up to then (the engine reads fractions of seconds)
    const stream: NodeJS.ReadableStream = await d.getEvents({ since: since / 1000, until: (Date.now() + 200) / 1000, filters: JSON.stringify({ container: [t.id], type: ["container"] }) });
    const text = await new Promise<string>((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(() => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        reject(new Error(`no end of the event stream within ${EVENTS_TIMEOUT_MS} ms`));
      }, EVENTS_TIMEOUT_MS);
      stream.on("data", (c: Buffer) => (buf += c.toString()));
      stream.on("end", () => (clearTimeout(timer), resolve(buf)));
      stream.on("error", (e: Error) => (clearTimeout(timer), reject(e)));
    });
    const out: EngineEvent[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { Action?: string; status?: string; timeNano?: number; time?: number; Actor?: { Attributes?: Record<string, string> } };
      const at = e.timeNano ? Math.floor(e.timeNano / 1e6) : (e.time ?? 0) * 1000;
      out.push({ action: (e.Action ?? e.status ?? "").split(":")[0], at, attributes: e.Actor?.Attributes ?? {} });
    }
    return out;
  } catch {
    return null;
  }
}

const SIGNALS: Record<string, string> = { "1": "HUP", "2": "INT", "3": "QUIT", "6": "ABRT", "9": "KILL", "10": "USR1", "12": "USR2", "14": "ALRM", "15": "TERM", "18": "CONT", "19": "STOP" };
const sig = (e: EngineEvent) => {
  const s = e.attributes.signal ?? "?";
  return `SIG${SIGNALS[s] ?? s}`;
};

/** The first event of one of the actions at or after `from`. */
const first = (ev: EngineEvent[], actions: string[], from = 0) => ev.find((e) => actions.includes(e.action) && e.at >= from);

/** "died with exit code 137 after 1012 ms, started again 40 ms later" from the events after `from`. */
function downtime(ev: EngineEvent[], from: EngineEvent): string {
  const die = first(ev, ["die"], from.at);
  if (!die) return "it did not die";
  const start = first(ev, ["start"], die.at);
  const code = die.attributes.exitCode !== undefined ? ` with exit code ${die.attributes.exitCode}` : "";
  return `died${code} ${die.at - from.at} ms later, ${start ? `down ${start.at - die.at} ms until started again` : "not started again"}`;
}

export type ContainerAction = "pause" | "kill" | "stop" | "restart";

/** The evidence of one container fault from its events; touched 1 when the engine recorded the action on this container. */
export function eventsEffect(t: ContainerTarget, action: ContainerAction, ev: EngineEvent[]): { touched: number; summary: string; counters: unknown } {
  const counters = { events: ev.map((e) => `${e.action}${e.attributes.signal ? ` ${sig(e)}` : ""}${e.attributes.exitCode !== undefined ? ` exit ${e.attributes.exitCode}` : ""} @${e.at}`) };
  const who = `container ${t.name}`;
  const it = first(ev, [action]);
  if (!it) return { touched: 0, summary: `the engine recorded no ${action} of ${who} (events: ${counters.events.length ? ev.map((e) => e.action).join(", ") : "none"})`, counters };
  if (action === "pause") {
    const un = first(ev, ["unpause"], it.at);
    return { touched: 1, summary: `${who} paused ${un ? `for ${un.at - it.at} ms until unpaused` : "and not unpaused yet"} (engine events)`, counters: { ...counters, pausedMs: un ? un.at - it.at : null } };
  }
  if (action === "kill") return { touched: 1, summary: `${sig(it)} delivered to ${who}; ${downtime(ev, it)} (engine events)`, counters };
  // stop and restart send TERM (then KILL after the grace): the first kill is where the container's trouble began
  const kill = first(ev, ["kill"]);
  const kills = ev.filter((e) => e.action === "kill" && e.at <= it.at).map(sig);
  return { touched: 1, summary: `${who} ${action === "stop" ? "stopped" : "restarted"}${kills.length ? ` (${kills.join(", then ")})` : ""}; ${kill ? downtime(ev, kill) : downtime(ev, it)} (engine events)`, counters };
}

/** A container fault's effect(): its events since plan (absent in journals from before it: null). */
export async function containerEffect(t: ContainerTarget, action: ContainerAction, since: number | undefined) {
  if (since === undefined) return null;
  const ev = await containerEvents(t, since);
  if (!ev || ev.length === 0) return null;
  return eventsEffect(t, action, ev);
}
