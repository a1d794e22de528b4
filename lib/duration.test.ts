import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration } from "./duration";

test("durations parse with their units and refuse the rest", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("10m"), 600_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration(250), 250);
  assert.equal(parseDuration("-5s"), null);
  assert.equal(parseDuration(-5), null);
  assert.equal(parseDuration("5 parsecs"), null);
  assert.equal(parseDuration("10"), null);
});
