// The launch panel's confirmation lists exactly the steps that cannot be undone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { irreversibleSteps, irreversibleWarning } from "./irreversible";

const step = (index: number, fault: string, irreversible: boolean, matched: string[], hits = matched.length) => ({ index, fault, target: "zone", hits, matched, ...(irreversible ? { irreversible } : {}) });

test("only the steps marked irreversible, each naming what it hits", () => {
  const steps = [step(0, "ec2-stop", false, ["i-1"]), step(1, "ec2-terminate", true, ["instance i-2 (web) in eu-west-1a", "instance i-3 in eu-west-1a"], 1)];
  assert.deepEqual(irreversibleSteps(steps).map((s) => s.index), [1]);
  assert.deepEqual(irreversibleWarning(steps), ['step 1: ec2-terminate on "zone" hits 1 of 2 (instance i-2 (web) in eu-west-1a, instance i-3 in eu-west-1a); nothing comes back on revert']);
  assert.deepEqual(irreversibleWarning([step(0, "ec2-stop", false, ["i-1"])]), []);
});

test("a long list is cut, saying how many more", () => {
  const many = Array.from({ length: 8 }, (_, i) => `i-${i}`);
  assert.match(irreversibleWarning([step(2, "az-outage", true, many)], 3)[0], /\(i-0, i-1, i-2, … 5 more\)/);
});

test("the run page's faults table badges the irreversible row only", async () => {
  const { createElement } = await import("react");
  const { renderToStaticMarkup } = await import("react-dom/server");
  const { FaultsTable } = await import("../../components/run/FaultsTable");
  const fault = (id: string, name: string, irreversible: boolean) => ({
    id,
    step: 0,
    fault: name,
    target: "zone",
    targetKind: "instance",
    targetId: `ec2:eu-west-1/${id}`,
    targetLabel: `instance ${id} in eu-west-1a`,
    host: "h",
    state: "reverted" as const,
    injectedAt: "2026-12-01T10:00:00.000Z",
    revertAt: null,
    revertedAt: "2026-12-01T10:01:00.000Z",
    verified: true,
    error: null,
    ...(irreversible ? { irreversible } : {}),
  });
  const html = renderToStaticMarkup(createElement(FaultsTable, { faults: [fault("i-1", "ec2-stop", false), fault("i-2", "ec2-terminate", true)] }));
  assert.equal(html.match(/data-testid="fault-irreversible"/g)?.length, 1);
  assert.match(html, /<span class="font-mono">ec2-terminate<\/span><span data-testid="fault-irreversible"[^>]*>IRREVERSIBLE<\/span>/);
});
