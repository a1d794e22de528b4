// Property-based tests (fast-check) over the experiment schema and every
// registered injector's parameters: random and adversarial input (wrong
// types, huge and negative numbers, zero durations, unicode, very long
// strings, deep nesting, YAML alias bombs) gives a clear error naming the
// field — never a throw, never a change on the host. Bounded runs: a few
// seconds in all.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import YAML from "yaml";
import "./index";
import { faultNames } from "../lib/catalog";
import { parseExperiment } from "../lib/experiment";
import { listProcesses } from "../lib/procfs";
import { getInjector } from "./registry";
import { planExperiment } from "../agent/plan";

const VALID = {
  apiVersion: "gameday/v1",
  kind: "Experiment",
  metadata: { name: "fuzz" },
  spec: {
    hypothesis: "the service shrugs",
    targets: { v: { process: { pids: [999_999] }, mode: "one" } },
    steadyState: { probes: [{ name: "up", type: "http", url: "http://127.0.0.1:9/", interval: "250ms", tolerance: { min: 0.9 } }] },
    method: [{ fault: "process-kill", target: "v", params: { signal: "STOP" }, duration: "2s", probability: 1, every: "1s" }],
    abort: { maxDuration: "1m" },
    rollback: "always",
    safety: { maxPerTarget: 3, maxSharePerTarget: "50%" },
  },
};

/** Leaves whose bad values must be reported at (or right beside) their own path. */
const FIELDS: (string | number)[][] = [
  ["metadata", "name"],
  ["spec", "hypothesis"],
  ["spec", "method", 0, "duration"],
  ["spec", "method", 0, "probability"],
  ["spec", "method", 0, "every"],
  ["spec", "method", 0, "maxDown"],
  ["spec", "method", 0, "params", "signal"],
  ["spec", "targets", "v", "mode"],
  ["spec", "targets", "v", "value"],
  ["spec", "targets", "v", "process", "pids"],
  ["spec", "steadyState", "probes", 0, "url"],
  ["spec", "steadyState", "probes", 0, "interval"],
  ["spec", "abort", "maxDuration"],
  ["spec", "rollback"],
  ["spec", "safety", "maxPerTarget"],
  ["spec", "safety", "maxSharePerTarget"],
  ["spec", "safety", "allowBroad"],
  ["spec", "safety", "reason"],
];

const pathText = (p: (string | number)[]) => p.map((s, i) => (typeof s === "number" ? `[${s}]` : i ? `.${s}` : s)).join("");

/** Values that are wrong somewhere: wrong types, extremes, unicode, long strings, nesting. */
const nasty = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, -0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 2 ** 53 + 1, "", " ", "0s", "-5s", "0ms", "1e999s", "NaN", "Infinity", "∞", "💥", "\u0000", "%", "101%", "0%", "-1%", "a".repeat(70), "x".repeat(5000)),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.anything({ maxDepth: 2 }), { maxKeys: 3 }),
  fc.integer({ min: 50, max: 400 }).map((d) => JSON.parse("[".repeat(d) + "]".repeat(d))),
);

function withValue(doc: unknown, p: (string | number)[], v: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at = copy;
  for (const k of p.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  at[p.at(-1)!] = v;
  return copy;
}

const related = (issue: string, field: string) => {
  const parent = field.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
  return issue === field || issue.startsWith(field) || field.startsWith(issue + ".") || field.startsWith(issue + "[") || issue.startsWith(parent);
};

const gamedayLoad = () => listProcesses().filter((p) => p.cmdline.includes("gameday-load:")).length;

test("the valid base experiment parses (the properties below mutate it)", () => {
  const r = parseExperiment(YAML.stringify(VALID));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
});

test("one bad field: parse never throws, and a refusal names that field", async () => {
  const before = gamedayLoad();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...FIELDS), nasty, async (field, value) => {
      const text = JSON.stringify(withValue(VALID, field, value));
      const r = parseExperiment(text);
      if (r.ok) {
        // what passed is still planned safely (no throw, nothing run)
        await planExperiment(r.experiment, null, new Set());
        return;
      }
      assert.ok(r.issues.length > 0);
      for (const i of r.issues) assert.ok(typeof i.message === "string" && i.message.length > 0 && i.message.length < 2000, `a short message: ${i.message.slice(0, 200)}`);
      const want = pathText(field);
      assert.ok(r.issues.some((i) => related(i.path, want)), `an issue names ${want}: ${JSON.stringify(r.issues).slice(0, 500)}`);
    }),
    { numRuns: 300, seed: 8 },
  );
  assert.equal(gamedayLoad(), before, "nothing was started");
});

test("arbitrary documents and text: parse never throws, every problem has a message", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.anything({ maxDepth: 4 }).map((v) => YAML.stringify(v) ?? "")), (text) => {
      const r = parseExperiment(text);
      assert.equal(r.ok, false);
      if (!r.ok) for (const i of r.issues) assert.ok(i.message.length > 0);
    }),
    { numRuns: 300, seed: 9 },
  );
});

test("a YAML alias bomb, deep nesting and a megabyte name are refused quickly, naming the cause", () => {
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`)].join("\n");
  const t0 = performance.now();
  const r = parseExperiment(bomb);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.issues[0].message : "", /invalid YAML: .*(alias|resource exhaustion)/i);
  const deep = parseExperiment(`${"[".repeat(20_000)}${"]".repeat(20_000)}`);
  assert.equal(deep.ok, false);
  const long = parseExperiment(JSON.stringify(withValue(VALID, ["metadata", "name"], "n".repeat(1_000_000))));
  assert.ok(!long.ok && long.issues.some((i) => i.path === "metadata.name"));
  assert.ok(performance.now() - t0 < 10_000, "bounded time (a generous safety bound)");
});

test("every injector's parameters: random input never throws; a refusal names the field", () => {
  const names = faultNames();
  assert.ok(names.length >= 10, `registered: ${names.join(", ")}`);
  for (const name of names) {
    const schema = getInjector(name)!.params;
    const keys = Object.keys((schema as unknown as { shape?: Record<string, unknown> }).shape ?? (schema as unknown as { def?: { in?: { shape?: object } } }).def?.in?.shape ?? {});
    fc.assert(
      fc.property(fc.oneof(nasty, fc.dictionary(fc.constantFrom(...(keys.length ? keys : ["x"]), "bogus"), nasty, { maxKeys: 4 })), (raw) => {
        const r = schema.safeParse(raw);
        if (r.success) return;
        for (const i of r.error.issues) {
          assert.ok(i.message.length > 0, `${name}: a message`);
          const top = i.path[0];
          if (top !== undefined && raw && typeof raw === "object" && !Array.isArray(raw)) assert.ok(String(top) in raw || keys.includes(String(top)), `${name}: path ${i.path.join(".")} names a field`);
        }
      }),
      { numRuns: 60, seed: 10 },
    );
  }
});
