// A change that cannot be undone is said so in the post-mortem: in the
// outcome sentence, on the title page and in its row of the faults table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildModel } from "./model";
import { renderHtml } from "./render";
import { syntheticRun } from "./synthetic";

test("the outcome, the title page and the faults table mark the terminated instance, and only it", { timeout: 60_000 }, async () => {
  const input = syntheticRun({ durationMs: 60_000, tickMs: 1000, probes: 1, faults: 2 });
  input.run.faults[1] = { ...input.run.faults[1], fault: "ec2-terminate", targetKind: "instance", targetLabel: "instance i-0000000000000b10 (web-b2) in eu-west-1b", irreversible: true };
  const m = buildModel(input);
  assert.deepEqual(m.irreversible, ["ec2-terminate on instance i-0000000000000b10 (web-b2) in eu-west-1b"]);
  assert.match(m.outcome, /; IRREVERSIBLE: 1 change was not undone \(ec2-terminate on instance i-0000000000000b10 \(web-b2\) in eu-west-1b\)\.$/);
  const html = await renderHtml(m);
  assert.match(html, /data-testid="irreversible">IRREVERSIBLE: 1 change could not be undone/);
  assert.equal(html.match(/<span class="bad"> IRREVERSIBLE<\/span>/g)?.length, 1, "one row marked");
  assert.match(html, /<span class="bad">cannot be undone<\/span>/);
  const plain = buildModel(syntheticRun({ durationMs: 60_000, tickMs: 1000, probes: 1, faults: 2 }));
  assert.deepEqual(plain.irreversible, []);
  assert.doesNotMatch(plain.outcome, /IRREVERSIBLE/);
});
