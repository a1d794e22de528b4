// GET /api/v1/faults against a real worker process: every registered fault
// with a params JSON Schema that compiles, its family and target kind, the
// example step from examples/, availability with the reason when it is not
// (the worker is pointed at a Docker socket that does not exist, so the
// container faults must say why), read by a viewer, refused to anyone else.
// Then the catalogue's "Use": each experiment written from a fault's entry
// goes through the worker's validate and shows its plan (cloud faults ask a
// local EC2 endpoint, never AWS).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import "../injectors/index";
import { injectorNames } from "../injectors";
import { API, FAULT_FAMILIES, type FaultCatalogue } from "../lib/contract";
import { parseExperiment } from "../lib/experiment";
import { generatedExperiment } from "../lib/web/catalogue";
import { startFakeEc2, type FakeEc2 } from "../e2e/ec2";
import { apiCall, ROOT, startWorkerProcess, tempHome, type WorkerProc } from "../e2e/kit";

// below the ephemeral range (32768-): a busy host's outgoing connections cannot hold it
const PORT = 17_420;
const NO_DOCKER = "unix:///nonexistent/gameday-faults-test/docker.sock";

describe("GET /api/v1/faults", { timeout: 120_000 }, () => {
  let w: WorkerProc;
  let ec2: FakeEc2;
  let viewerToken = "";

  before(async () => {
    ec2 = await startFakeEc2([{ id: "i-0123456789abcdef0", az: "eu-west-1a", state: "running", tags: { app: "my-service", "gameday:allow": "true" }, groups: ["sg-0aaaa1111"], vpc: "vpc-1" }]);
    w = await startWorkerProcess(tempHome(), {
      port: PORT,
      env: {
        DOCKER_HOST: NO_DOCKER,
        GAMEDAY_EC2_ENDPOINT: ec2.endpoint,
        AWS_REGION: "eu-west-1",
        AWS_ACCESS_KEY_ID: "AKIDGAMEDAYTEST",
        AWS_SECRET_ACCESS_KEY: "gameday-test-secret",
        AWS_EC2_METADATA_DISABLED: "true",
      },
    });
    assert.equal((await apiCall(w, "POST", API.users, { username: "vera", password: "viewer-password", role: "viewer" })).status, 201);
    const t = await apiCall<{ token: string }>(w, "POST", API.tokens, { name: "vera-faults", username: "vera", expiresIn: "1h" });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    viewerToken = t.body.token;
  });

  after(async () => {
    await w?.stop();
    await ec2?.close();
  });

  const asViewer = <T>(method: string, p: string, body?: unknown) => apiCall<T>({ url: w.url, token: viewerToken }, method, p, body);

  test("anonymous and a made-up token get 401", async () => {
    const anon = await fetch(w.url + API.faults, { signal: AbortSignal.timeout(10_000) });
    assert.equal(anon.status, 401);
    assert.equal(((await anon.json()) as { code: string }).code, "unauthenticated");
    const bad = await fetch(w.url + API.faults, { headers: { authorization: "Bearer not-a-token" }, signal: AbortSignal.timeout(10_000) });
    assert.equal(bad.status, 401);
  });

  test("a viewer reads every registered fault: family, params as JSON Schema, target kind, availability with its reason, the example step", async () => {
    const r = await asViewer<FaultCatalogue>("GET", API.faults);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const { faults } = r.body;
    assert.deepEqual(faults.map((f) => f.name), injectorNames(), "every registered fault, in name order");
    for (const f of faults) {
      assert.ok((FAULT_FAMILIES as readonly string[]).includes(f.family), `${f.name}: family ${f.family}`);
      assert.ok(f.description.length > 10, `${f.name}: description`);
      assert.equal(f.params.type, "object", `${f.name}: params schema`);
      assert.doesNotThrow(() => z.fromJSONSchema(f.params as z.core.JSONSchema.JSONSchema), `${f.name}: params is not a JSON Schema zod can read`);
      assert.ok(f.target.kind && f.target.selectors.length, `${f.name}: target kind`);
      assert.equal(typeof f.available, "boolean");
      if (!f.available) assert.ok(typeof f.reason === "string" && f.reason.length > 5, `${f.name} is unavailable without a reason`);
    }
    for (const family of FAULT_FAMILIES) assert.ok(faults.some((f) => f.family === family), `no fault in family ${family}`);

    const byName = new Map(faults.map((f) => [f.name, f]));
    for (const name of ["container-pause", "container-kill", "container-stop", "container-restart", "container-limit"]) {
      const c = byName.get(name)!;
      assert.equal(c.available, false, `${name} with no Docker engine`);
      assert.match(c.reason!, /no Docker engine answers at unix:\/\/\/nonexistent\/gameday-faults-test\/docker\.sock/, name);
    }
    assert.equal(byName.get("process-kill")!.available, true);
    assert.deepEqual(byName.get("process-kill")!.target.selectors, ["node", "process"]);

    // the first example file (by name) with a step of the fault; none for a fault no file uses
    const kill = byName.get("process-kill")!.example!;
    assert.equal(kill.file, "api-freeze.yaml");
    assert.equal(kill.step.fault, "process-kill");
    assert.equal(kill.yaml, fs.readFileSync(path.join(ROOT, "examples/api-freeze.yaml"), "utf8"));
    assert.ok(parseExperiment(kill.yaml).ok);
    assert.equal(byName.get("http-fault")!.example!.file, "http-503-toxic.yaml");
    assert.equal(byName.get("container-stop")!.example, null);
    assert.equal(r.body.probe?.type, "http", "a probe from the examples");
  });

  test("availability is cached: a second read within the time to live is the same check", async () => {
    const a = await asViewer<FaultCatalogue>("GET", API.faults);
    const b = await asViewer<FaultCatalogue>("GET", API.faults);
    assert.equal(a.status, 200);
    assert.equal(b.body.checkedAt, a.body.checkedAt);
  });

  test("Use → Validate: the experiment written for each fault validates through the worker and shows its plan; unavailable faults are refused with the reason", async () => {
    const { faults, probe } = (await asViewer<FaultCatalogue>("GET", API.faults)).body;
    for (const f of faults) {
      const v = await asViewer<{ ok?: boolean; plan?: { steps: { fault: string }[] }; code?: string; issues?: { path: string; message: string }[] }>("POST", API.validate, {
        yaml: generatedExperiment(f, { probe }),
      });
      if (f.available) {
        assert.equal(v.status, 200, `${f.name}: ${JSON.stringify(v.body)}`);
        assert.equal(v.body.plan?.steps[0]?.fault, f.name, `${f.name}: ${JSON.stringify(v.body.plan)}`);
      } else {
        assert.equal(v.body.code, "unavailable", `${f.name}: ${JSON.stringify(v.body)}`);
        assert.ok(v.body.issues?.some((i) => i.path === "spec.method[0].fault" && i.message.includes(f.reason!)), `${f.name}: ${JSON.stringify(v.body)}`);
      }
    }
    // the cloud faults' plan asked the local endpoint
    assert.ok(ec2.calls.some((c) => c.action === "DescribeInstances"), "no EC2 call reached the local endpoint");
  });
});
