// The run record's fault rows say when a change cannot be undone, from the
// injector's contract and the journaled params (not from the fault's name).
import { test } from "node:test";
import assert from "node:assert/strict";
import "../injectors";
import { faultRecordFromRow } from "./mirror";

const row = (fault: string, params: unknown) => ({
  id: "c1",
  runId: "r1",
  step: 0,
  fault,
  targetName: "zone",
  targetKind: "instance",
  targetId: "ec2:eu-west-1/i-00000000000001a0",
  targetLabel: "instance i-00000000000001a0 (shop-a1) in eu-west-1a",
  targetJson: JSON.stringify({ kind: "instance", region: "eu-west-1", instanceId: "i-00000000000001a0", az: "eu-west-1a" }),
  node: null,
  params: JSON.stringify(params),
  undo: JSON.stringify({ az: "eu-west-1a", action: "terminate" }),
  state: "reverted",
  injectedAt: new Date("2026-12-01T10:00:00Z"),
  revertAt: null,
  revertedAt: new Date("2026-12-01T10:01:00Z"),
  verified: true,
  error: null,
  host: "h",
});

test("az-outage with terminate is marked irreversible, with stop it is not; ec2-terminate always", () => {
  const t = faultRecordFromRow(row("az-outage", { az: "eu-west-1a", action: "terminate", irreversible: true }));
  assert.equal(t.irreversible, true);
  assert.match(t.detail ?? "", /^IRREVERSIBLE: zone eu-west-1a down: TerminateInstances i-00000000000001a0; no revert$/);
  assert.equal(faultRecordFromRow(row("az-outage", { az: "eu-west-1a", action: "stop" })).irreversible, undefined);
  assert.equal(faultRecordFromRow(row("ec2-terminate", { irreversible: true })).irreversible, true);
  assert.equal(faultRecordFromRow(row("ec2-stop", {})).irreversible, undefined);
});
