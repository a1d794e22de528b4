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
