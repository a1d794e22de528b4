// The run page's notes: loaded and pushed live, each shown once, in time order.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunNote } from "@/lib/contract";
import { mergeNotes } from "./run-view";

const note = (id: number, at: string, text = `note ${id}`): RunNote => ({ id, runId: "r1", at, author: "admin", text });

test("a live note joins the loaded ones in time order; one that was loaded too is shown once", () => {
  const loaded = [note(1, "2026-12-01T10:00:00.000Z"), note(3, "2026-12-01T10:02:00.000Z")];
  const live = [note(2, "2026-12-01T10:01:00.000Z"), note(3, "2026-12-01T10:02:00.000Z")];
  assert.deepEqual(mergeNotes(loaded, live).map((n) => n.id), [1, 2, 3]);
  assert.deepEqual(mergeNotes([], []), []);
  // same instant: by id, so the order is stable
  assert.deepEqual(mergeNotes([note(5, "2026-12-01T10:00:00.000Z")], [note(4, "2026-12-01T10:00:00.000Z")]).map((n) => n.id), [4, 5]);
});
