// A directory: disk faults act on its filesystem and write only below it.
import { registerTargetKind } from "./registry";

registerTargetKind({
  kind: "path",
  title: "directory",
  selectors: ["path"],
  example: { path: "/var/tmp" },
  id: (t) => `path:${t.path}`,
  label: (t) => t.path,
  resolve: (spec) => ({ selector: `path=${spec.path}`, matched: [{ kind: "path", path: spec.path! }], protected: [] }),
});
