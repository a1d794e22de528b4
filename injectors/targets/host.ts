// The host itself (resource pressure): `host: local` is the one this runs on.
import os from "node:os";
import { registerTargetKind } from "./registry";

registerTargetKind({
  kind: "host",
  title: "host",
  selectors: ["host"],
  example: { host: "local" },
  id: (t) => `host:${t.hostname}`,
  label: (t) => t.hostname,
  resolve: () => ({ selector: "host=local", matched: [{ kind: "host", hostname: os.hostname() }], protected: [] }),
});
