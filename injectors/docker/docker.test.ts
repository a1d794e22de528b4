// The container faults against a real dockerd (e2e/docker.ts: its own
// socket and folders, host networking, a busybox image built here): each
// fault through the executor and its revert, the "paused before" and
// "recreated meanwhile" cases, selection by every selector kind, blast
// radius and maxDown through the StepRunner, a seeded Poisson schedule that
// replays, a process fault and a network fault on a container resolved to
// its PIDs and cgroup, and a revert by the reaper after the CLI is SIGKILLed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import http from "node:http";
import { spawn } from "node:child_process";
import "../index";
import { Executor } from "../../agent/executor";
import { getInjector } from "../registry";
import { roundLength, StepRunner, type StepEvent } from "../../agent/step";
import { parseExperiment } from "../../lib/experiment";
import { topologySchema } from "../../lib/topology";
import { resolveContainers, seededRandom, targetId, type ContainerTarget } from "../targets/resolve";
import { internals } from "./containers";
import { dockerSkipReason, startDockerd, TEST_LABEL, type TestDocker } from "../../e2e/docker";
import { EXIT_WITH_PARENT, procState, ROOT, tempDir, waitFor, waitForLine } from "../../e2e/kit";
import type { Effect, Target } from "../types";

const skip = dockerSkipReason() ?? undefined;
// the evidence files (injectors/evidence.ts) go to a home of this test's own
process.env.GAMEDAY_HOME = tempDir("gameday-docker-home-");

describe("container faults on a real dockerd", { skip, timeout: 240_000 }, () => {
  let dk: TestDocker;
  let ex: Executor;
  let n = 0;
  const uniq = () => `gd${process.pid}-${++n}`;

  before(async () => {
    dk = await startDockerd();
    ex = new Executor({ command: "docker-test", dir: path.join(tempDir("gameday-docker-journal-"), "journal"), reaper: false, revertDeadlineMs: 3000 });
    await ex.start();
  });
  after(async () => {
    await ex?.revertAll();
    await ex?.close();
    if (!dk) return;
    await dk.stop();
  });

  const target = async (id: string): Promise<ContainerTarget> => {
    const r = await resolveContainers({ ids: [id], engine: dk.engine }, null);
    assert.equal(r.matched.length, 1, `container ${id} resolves`);
    return r.matched[0] as ContainerTarget;
  };
  const state = async (id: string) => (await dk.docker.getContainer(id).inspect()).State;
  // params as an experiment gives them: the injector's schema parses them first
  const apply = (fault: string, t: Target, params: unknown = {}) =>
    ex.apply({ runId: "r1", step: 0, targetName: "t", fault, target: t, params: getInjector(fault)!.params.parse(params) }, new AbortController().signal);
  /** Revert through the executor; the evidence of effect it read after the verified revert. */
  const revertRead = async (id: string): Promise<{ v: Awaited<ReturnType<Executor["revert"]>>; effect: Effect | undefined }> => {
    let effect: Effect | undefined;
    const off = ex.on((e) => e.type === "reverted" && e.change.id === id && (effect = e.change.effect));
    try {
      return { v: await ex.revert(id), effect };
    } finally {
      off();
    }
  };

  test("selection by labels, name regex, image, Compose service/project, IDs and a topology node, in a stable order", async () => {
    const tag = uniq();
    const port = await freePort();
    const a = await dk.run(`${tag}-api-1`, ["sleep", "300"], { labels: { tier: "api", "com.docker.compose.service": "api", "com.docker.compose.project": tag } });
    const b = await dk.run(`${tag}-api-2`, ["sleep", "300"], { labels: { tier: "api", "com.docker.compose.service": "api", "com.docker.compose.project": tag } });
    const c = await dk.run(`${tag}-web`, ["httpd", "-f", "-p", `127.0.0.1:${port}`, "-h", "/www"], { labels: { tier: "web", "com.docker.compose.project": tag } });
    const names = async (sel: Parameters<typeof resolveContainers>[0], topo: Parameters<typeof resolveContainers>[1] = null) =>
      (await resolveContainers({ engine: dk.engine, ...sel }, topo)).matched.map((t) => (t as ContainerTarget).name);
    assert.deepEqual(await names({ labels: { tier: "api" } }), [`${tag}-api-1`, `${tag}-api-2`]);
    assert.deepEqual(await names({ name: `^${tag}-(web|api-2)$` }), [`${tag}-api-2`, `${tag}-web`]);
    assert.deepEqual(await names({ service: "api", project: tag }), [`${tag}-api-1`, `${tag}-api-2`]);
    assert.deepEqual(await names({ project: tag, labels: { tier: "web" } }), [`${tag}-web`]);
    assert.deepEqual(await names({ ids: [b.slice(0, 12)] }), [`${tag}-api-2`]);
    assert.deepEqual(await names({ image: "gameday-test-busybox", name: `^${tag}-api-1$` }), [`${tag}-api-1`], "an image name without a tag matches every tag");
    assert.deepEqual(await names({ image: "gameday-test-busybox:2", name: `^${tag}` }), []);
    // a topology node: its processes' cgroups name the containers they run in
    const topo = topologySchema.parse({ apiVersion: "gameday/v1", kind: "Topology", metadata: { name: "t" }, spec: { nodes: [{ id: "web", selector: { process: { cmdline: `httpd -f -p 127.0.0.1:${port}` } } }] } });
    const r = await resolveContainers({ node: "web", engine: dk.engine }, topo);
    assert.deepEqual(r.matched.map((t) => (t as ContainerTarget).id), [c]);
    assert.equal(r.node, "web");
    assert.equal(targetId(r.matched[0]), `ctr:${c}`);
    void a;
  });

  test("an experiment selects containers and validates container faults' params, naming the field", () => {
    const doc = (params: string) => `apiVersion: gameday/v1
kind: Experiment
metadata: { name: c }
spec:
  hypothesis: h
  targets:
    pay: { container: { service: payment, labels: { env: test } }, mode: count, value: 1 }
  steadyState: { probes: [{ name: p, type: http, url: "http://127.0.0.1:1/", tolerance: { min: 0.9 } }] }
  method:
    - { fault: container-limit, target: pay, duration: 10s, params: ${params} }
`;
    const ok = parseExperiment(doc("{ cpus: 0.5, memory: 64M }"));
    assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
    const bad = parseExperiment(doc("{ cpus: 0 }"));
    assert.ok(!bad.ok);
    assert.deepEqual(bad.issues.map((i) => i.path), ["spec.method[0].params.cpus"]);
    const empty = parseExperiment(doc("{ cpus: 1 }").replace("{ service: payment, labels: { env: test } }", "{}"));
    assert.ok(!empty.ok && empty.issues.some((i) => i.path === "spec.targets.pay.container" && /give at least one of ids/.test(i.message)), JSON.stringify(!empty.ok && empty.issues));
  });

  test("container-pause: paused through the journal, unpaused and verified on revert; one paused before is left paused and untouched", async () => {
    const id = await dk.run(uniq(), ["sleep", "300"]);
    const t = await target(id);
    const c = await apply("container-pause", t);
    assert.equal(ex.get(c.id)!.state, "injected");
    assert.deepEqual(c.undo, { wasPaused: false, since: (c.undo as { since: number }).since });
    assert.equal((await state(id)).Paused, true);
    await new Promise((r) => setTimeout(r, 300));
    const { v, effect } = await revertRead(c.id);
    assert.ok(v.ok, v.detail);
    assert.match(v.detail, /unpaused: running since/);
    assert.equal((await state(id)).Paused, false);
    // the evidence: the engine's pause and unpause events, the time between them at least the hold
    assert.equal(effect?.touched, 1, JSON.stringify(effect));
    assert.match(effect!.summary, new RegExp(`^container ${t.name} paused for \\d+ ms until unpaused \\(engine events\\)$`));
    assert.ok((effect!.counters as { pausedMs: number }).pausedMs >= 250, JSON.stringify(effect));

    await dk.docker.getContainer(id).pause();
    const c2 = await apply("container-pause", t);
    assert.equal((c2.undo as { wasPaused: boolean }).wasPaused, true);
    const { v: v2, effect: e2 } = await revertRead(c2.id);
    assert.ok(v2.ok);
    assert.match(v2.detail, /was paused before the experiment: left paused, untouched/);
    assert.equal(e2?.touched, 0, "someone else's pause is not ours: nothing touched");
    assert.equal((await state(id)).Paused, true, "the owner's pause stays");
    // stop/kill/restart refuse it before anything is journaled
    await assert.rejects(apply("container-stop", t, { grace: 0 }), /was paused before the experiment: container-stop leaves it as it is/);
    await dk.docker.getContainer(id).unpause();
  });

  test("container-kill with a signal, started again on revert when asked; container-stop with a grace period, started on revert; container-restart", async () => {
    const id = await dk.run(uniq(), ["sleep", "300"]);
    const t = await target(id);
    const k = await apply("container-kill", t, { signal: "SIGTERM", start: true });
    // busybox sleep as PID 1 ignores TERM unless it has a handler: KILL makes sure
    const k2 = await apply("container-kill", t, { signal: "KILL", start: true }).catch((e: Error) => e);
    await waitFor("the container to exit", async () => !(await state(id)).Running, 10_000);
    const { v: vk, effect: ek } = await revertRead(k.id);
    assert.ok(vk.ok, vk.detail);
    if (!(k2 instanceof Error)) await ex.revert(k2.id);
    assert.equal((await state(id)).Running, true, "started again");
    assert.match(vk.detail, /SIGTERM cannot be undone; container \S+ is running since .*; it was restarted/);
    // the engine's kill (its signal), die (its exit code) and start events
    assert.equal(ek?.touched, 1, JSON.stringify(ek));
    assert.match(ek!.summary, new RegExp(`^SIGTERM delivered to container ${t.name}; died with exit code 137 \\d+ ms later, down \\d+ ms until started again \\(engine events\\)$`));

    const t0 = Date.now();
    const s = await apply("container-stop", t, { grace: "1s" });
    assert.deepEqual(s.undo, { graceSeconds: 1, since: (s.undo as { since: number }).since });
    assert.ok(Date.now() - t0 >= 900, "sleep ignores TERM: stopped by KILL after the 1 s grace");
    assert.equal((await state(id)).Running, false);
    const { v: vs, effect: es } = await revertRead(s.id);
    assert.ok(vs.ok, vs.detail);
    assert.equal((await state(id)).Running, true);
    assert.match(es?.summary ?? "", new RegExp(`^container ${t.name} stopped \\(SIGTERM, then SIGKILL\\); died with exit code 137 (9\\d\\d|\\d{4,}) ms later, down \\d+ ms until started again \\(engine events\\)$`));
    assert.equal(es!.touched, 1);

    const before = (await state(id)).StartedAt;
    const r = await apply("container-restart", t, { grace: 0 });
    const { v: vr, effect: er } = await revertRead(r.id);
    assert.ok(vr.ok, vr.detail);
    assert.match(vr.detail, /was restarted and is running/);
    assert.notEqual((await state(id)).StartedAt, before);
    assert.equal(er?.touched, 1, JSON.stringify(er));
    assert.match(er!.summary, new RegExp(`^container ${t.name} restarted( \\(SIG[A-Z]+(, then SIG[A-Z]+)?\\))?; died with exit code \\d+ \\d+ ms later, down \\d+ ms until started again \\(engine events\\)$`));
  });

  test("container-limit: CPU and memory capped with docker update, the previous limits restored exactly; the owner's tighter cap is kept", async () => {
    const free = await dk.run(uniq(), ["sleep", "300"]);
    const t = await target(free);
    const hc = async (id: string) => {
      const h = (await dk.docker.getContainer(id).inspect()).HostConfig;
      return { NanoCpus: h.NanoCpus, CpuQuota: h.CpuQuota, CpuPeriod: h.CpuPeriod, Memory: h.Memory, MemorySwap: h.MemorySwap };
    };
    const c = await apply("container-limit", t, { cpus: 0.5, memory: "64M" });
    assert.deepEqual(await hc(free), { NanoCpus: 0, CpuQuota: 50_000, CpuPeriod: 100_000, Memory: 64 * 2 ** 20, MemorySwap: 64 * 2 ** 20 });
    const cg = `/sys/fs/cgroup/memory/docker/${free}/memory.limit_in_bytes`;
    const kernelBefore = "9223372036854771712";
    const fs = await import("node:fs");
    if (fs.existsSync(cg)) assert.equal(fs.readFileSync(cg, "utf8").trim(), String(64 * 2 ** 20));
    const { v, effect: idle } = await revertRead(c.id);
    assert.ok(v.ok, v.detail);
    if (fs.existsSync(cg)) assert.equal(fs.readFileSync(cg, "utf8").trim(), kernelBefore, "the kernel holds no memory limit again");
    // a sleeping container never met its caps: its cgroup counted no throttled period and no limit hit
    assert.equal(idle?.touched, 0, JSON.stringify(idle));
    assert.match(idle!.summary, new RegExp(`^throttled in 0 of \\d+ CFS periods \\(0 ms held back\\), counted by \\S*${free}/cpu.stat; memory limit hit 0 time\\(s\\), 0 OOM kill\\(s\\)`));
    const quota = `/sys/fs/cgroup/cpu/docker/${free}/cpu.cfs_quota_us`;
    if (fs.existsSync(quota)) assert.equal(fs.readFileSync(quota, "utf8").trim(), "-1", "no CPU quota again");

    // limited by its owner: 0.25 CPUs (tighter than asked: kept) and 256M (looser: capped, then put back exactly)
    const owned = await dk.run(uniq(), ["sleep", "300"], { hostConfig: { NanoCpus: 250_000_000, Memory: 256 * 2 ** 20, MemorySwap: 512 * 2 ** 20 } });
    const before = await hc(owned);
    const c2 = await apply("container-limit", await target(owned), { cpus: 1, memory: "32M" });
    assert.deepEqual((c2.undo as { kept: string[] }).kept, ["cpus: already 0.25 (≤ 1)"]);
    assert.deepEqual(await hc(owned), { ...before, Memory: 32 * 2 ** 20 });
    const v2 = await ex.revert(c2.id);
    assert.ok(v2.ok, v2.detail);
    assert.deepEqual(await hc(owned), before, "exactly the owner's limits");
    assert.match(v2.detail, /left as the owner had them: cpus: already 0.25/);

    // a spinning container under a CPU cap is throttled, counted by its own cgroup
    const spin = await dk.run(uniq(), ["sh", "-c", "while :; do :; done"]);
    const c3 = await apply("container-limit", await target(spin), { cpus: 0.1 });
    await new Promise((r) => setTimeout(r, 1000));
    const { v: v3, effect: busy } = await revertRead(c3.id);
    assert.ok(v3.ok, v3.detail);
    assert.ok(busy && busy.touched > 0, JSON.stringify(busy));
    assert.match(busy.summary, new RegExp(`^throttled in ${busy.touched} of \\d+ CFS periods \\(\\d+ ms held back\\), counted by \\S*${spin}/cpu.stat$`));
    await dk.docker.getContainer(spin).remove({ force: true });
  });

  test("a container removed or recreated under its name meanwhile is reported per target; the revert of the others goes on", async () => {
    const name = uniq();
    const id = await dk.run(name, ["sleep", "300"]);
    const other = await dk.run(uniq(), ["sleep", "300"]);
    const a = await apply("container-pause", await target(id));
    const b = await apply("container-pause", await target(other));
    await dk.docker.getContainer(id).remove({ force: true });
    const fresh = await dk.run(name, ["sleep", "300"]);
    const details = new Map<string, string>();
    const off = ex.on((e) => e.type === "reverted" && details.set(e.change.id, e.detail));
    const results = await ex.revertRun("r1");
    off();
    assert.ok(results.every((v) => v.ok), JSON.stringify(results));
    assert.match(details.get(a.id) ?? "", new RegExp(`container ${name} was recreated meanwhile \\(now ${fresh.slice(0, 12)}, was ${id.slice(0, 12)}\\): the new one was never touched`));
    assert.equal((await state(fresh)).Paused, false, "the new container is never unpaused or paused");
    assert.match(details.get(b.id) ?? "", /unpaused/);
    assert.equal((await state(other)).Paused, false);

    const gone = await dk.run(uniq(), ["sleep", "300"]);
    const g = await apply("container-pause", await target(gone));
    await dk.docker.getContainer(gone).remove({ force: true });
    const vg = await ex.revert(g.id);
    assert.ok(vg.ok);
    assert.match(vg.detail, /is gone: nothing left to revert/);
  });

  test("blast radius and maxDown through the StepRunner: count 2 of 4, and maxDown 1 spares the second", async () => {
    const tag = uniq();
    for (let i = 0; i < 4; i++) await dk.run(`${tag}-${i}`, ["sleep", "300"], { labels: { fleet: tag } });
    const run = async (maxDown?: { count: number }) => {
      const events: StepEvent[] = [];
      const runner = new StepRunner(
        { index: 0, fault: "container-pause", params: {}, targetName: "fleet", target: { container: { labels: { fleet: tag }, engine: dk.engine }, mode: "count", value: 2 }, duration: 400, probability: 1, maxDown },
        { executor: ex, runId: `step-${tag}`, topology: null, protectedPids: () => new Set(), rnd: seededRandom(7), signal: new AbortController().signal, onEvent: (e) => events.push(e) },
      );
      let pausedDuring = 0;
      const p = runner.run();
      await waitFor("the round's changes", () => runner.stats.applied + runner.stats.refused >= 2, 10_000);
      pausedDuring = (await dk.testContainers()).filter((c) => c.Labels.fleet === tag && c.State === "paused").length;
      const stats = await p;
      return { stats, pausedDuring, chosen: (events.find((e) => e.type === "resolved") as Extract<StepEvent, { type: "resolved" }>).chosen.map(targetId) };
    };
    const free = await run();
    assert.equal(free.stats.applied, 2);
    assert.equal(free.pausedDuring, 2);
    const again = await run();
    assert.deepEqual(again.chosen, free.chosen, "the same seed chooses the same containers");
    const valved = await run({ count: 1 });
    assert.equal(valved.stats.applied, 1);
    assert.equal(valved.stats.refused, 1);
    assert.equal(valved.pausedDuring, 1);
    assert.equal((await dk.testContainers()).filter((c) => c.Labels.fleet === tag && c.State === "paused").length, 0, "all unpaused after the step");
  });

  test("a seeded Poisson schedule replays exactly and keeps the minimum gap", () => {
    const draw = (seed: number) => {
      const rnd = seededRandom(seed);
      return Array.from({ length: 200 }, () => roundLength({ every: 30_000, schedule: { kind: "poisson", minGapMs: 5000 } }, rnd));
    };
    const a = draw(42);
    assert.deepEqual(draw(42), a);
    assert.notDeepEqual(draw(43), a);
    assert.ok(a.every((g) => g >= 5000));
    const mean = a.reduce((s, g) => s + g, 0) / a.length;
    assert.ok(mean > 20_000 && mean < 45_000, `mean gap ${mean} ms near 30 s (exponential with a floor)`);
  });

  test("a container resolves to its PIDs, network namespace and cgroup; process-kill STOP and a network partition act on it through them", async () => {
    const port = await freePort();
    const sink = await listenOnce();
    const id = await dk.run(uniq(), ["sh", "-c", `httpd -p 127.0.0.1:${port} -h /www; while true; do echo x | nc 127.0.0.1 ${sink.port} >/dev/null 2>&1; sleep 0.2; done`]);
    const t = await target(id);
    await waitFor("httpd in the container", () => get(port).then((s) => s === 200).catch(() => false), 10_000);
    const inside = await internals(t);
    assert.ok(inside.pids.length >= 2, `pids ${inside.pids}`);
    assert.ok(inside.pids.includes(inside.pid));
    assert.equal(inside.cgroupV2, `docker/${id}`, "the path a network target's cgroup takes");
    assert.match(inside.netns, /^\/proc\/\d+\/ns\/net$/);

    // a process fault on the container's processes (the targets of process-kill)
    const { resolveProcesses } = await import("../targets/resolve");
    // busybox httpd daemonizes: for a moment its parent is there too
    const httpd = await waitFor("one httpd in the container's cgroup", () => {
      const m = resolveProcesses({ name: "httpd", cgroup: `docker/${id}` }).matched;
      return m.length === 1 ? m : null;
    }, 5000);
    assert.ok(inside.pids.includes(httpd[0].pid), "one of the container's PIDs");
    const stop = await apply("process-kill", httpd[0], { signal: "STOP" });
    await waitFor("httpd stopped", () => procState(httpd[0].pid) === "T", 5000);
    assert.equal(await get(port, 300).catch(() => "timeout"), "timeout");
    assert.ok((await ex.revert(stop.id)).ok);
    assert.equal(await get(port), 200);

    // a network fault on the traffic the container sends: its cgroup selects it
    await waitFor("the container to reach the sink", () => sink.hits() > 0, 10_000);
    const cut = await apply("partition", { kind: "network", direction: "egress", protocol: "tcp", dst: "127.0.0.1", dstPort: sink.port, cgroup: inside.cgroupV2 }, {});
    // a connection whose SYN left before the rule may still land: count from a moment later
    await new Promise((r) => setTimeout(r, 400));
    const during = sink.hits();
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(sink.hits(), during, "nothing the container sends reaches the sink");
    assert.equal(await get(port), 200, "traffic to the container still flows");
    assert.ok((await ex.revert(cut.id)).ok);
    await waitFor("the container to reach the sink again", () => sink.hits() > during, 10_000);
    sink.close();
  });

  test("group partition: A and B cut off from each other in both directions, both still reach C; reverted", async () => {
    const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()];
    // each serves on its port and keeps calling the other two; what reaches whom is counted by the servers' logs
    const node = (me: number, others: number[]) => ["sh", "-c", `httpd -p 127.0.0.1:${me} -h /www; while true; do for p in ${others.join(" ")}; do nc -w 1 127.0.0.1 $p </dev/null && echo ok $p >> /tmp/reach || echo fail $p >> /tmp/reach; done; sleep 0.2; done`];
    const tag = uniq();
    const a = await target(await dk.run(`${tag}-a`, node(pa, [pb, pc])));
    const b = await target(await dk.run(`${tag}-b`, node(pb, [pa, pc])));
    await dk.run(`${tag}-c`, ["httpd", "-f", "-p", `127.0.0.1:${pc}`, "-h", "/www"]);
    await waitFor("everyone up", async () => (await Promise.all([pa, pb, pc].map((p) => get(p).catch(() => 0)))).every((s) => s === 200), 10_000);
    const reach = async (t: ContainerTarget) => {
      const ex2 = await (await dk.docker.getContainer(t.id).exec({ Cmd: ["cat", "/tmp/reach"], AttachStdout: true })).start({});
      const text = await new Promise<string>((r) => {
        let out = "";
        ex2.on("data", (d: Buffer) => (out += d.toString("latin1")));
        ex2.on("end", () => r(out));
      });
      return text.split("\n").filter((l) => /^(ok|fail) \d+$/.test(l.replace(/^[^a-z]*/, ""))).map((l) => l.replace(/^[^a-z]*/, ""));
    };
    const { partitionTargets } = await import("./groups");
    const targets = await partitionTargets([a], [b]);
    assert.deepEqual(targets.map((t) => `${t.cgroup}>${t.dst ?? "local"}:${t.dstPort}`).sort(), [`docker/${a.id}>127.0.0.1:${pb}`, `docker/${b.id}>127.0.0.1:${pa}`].sort());
    const cuts = [];
    for (const t of targets) cuts.push(await apply("partition", t, {}));
    const [fromA, fromB] = [(await reach(a)).length, (await reach(b)).length];
    // a call that was under way when the rules went in may still land: the first two after are skipped
    const during = async (t: ContainerTarget, skip: number) => (await reach(t)).slice(skip + 2);
    // each loop of a container's calls takes a 1 s timeout once a peer is cut: wait for one full loop after the cut, however slow the host
    const fullLoop = (t: ContainerTarget, skip: number, cut: number, other: number) =>
      waitFor(`a full round of calls from ${t.name} under the partition`, async () => {
        const l = await during(t, skip);
        return l.includes(`fail ${cut}`) && l.includes(`ok ${other}`) ? l : null;
      }, 20_000, 250).catch(async (e: Error) => {
        throw new Error(`${e.message}; its calls since the cut: ${(await during(t, skip)).join(", ")}`);
      });
    const aDuring = await fullLoop(a, fromA, pb, pc);
    const bDuring = await fullLoop(b, fromB, pa, pc);
    for (const c of cuts) assert.ok((await ex.revert(c.id)).ok);
    assert.ok(aDuring.includes(`ok ${pc}`) && bDuring.includes(`ok ${pc}`), `both still reach C: ${aDuring} | ${bDuring}`);
    assert.ok(!aDuring.includes(`ok ${pb}`) && aDuring.includes(`fail ${pb}`), `A cannot reach B: ${aDuring}`);
    assert.ok(!bDuring.includes(`ok ${pa}`) && bDuring.includes(`fail ${pa}`), `B cannot reach A: ${bDuring}`);
    await waitFor("A reaches B again", async () => (await reach(a)).slice(fromA + aDuring.length + 4).includes(`ok ${pb}`), 10_000, 200);
  });

  test("docker-monkey pause: SIGKILLed while its containers are paused, its reaper unpauses them", async () => {
    const tag = uniq();
    const ids = [await dk.run(`${tag}-a`, ["sleep", "300"], { labels: { m: tag } }), await dk.run(`${tag}-b`, ["sleep", "300"], { labels: { m: tag } })];
    const home = tempDir("gameday-docker-home-");
    const cli = spawn(process.execPath, [...EXIT_WITH_PARENT, path.join(ROOT, "bin/gameday.mjs"), "docker-monkey", "pause", "--label", `m=${tag}`, "--mode", "all", "--duration", "2m"], {
      cwd: ROOT,
      env: { ...process.env, GAMEDAY_HOME: home, DOCKER_HOST: dk.engine, GAMEDAY_LOG: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    cli.stdout!.on("data", (d) => (out += d));
    cli.stderr!.on("data", (d) => (out += d));
    await waitForLine(cli, (l) => /Injected container-pause/.test(l) && out.split("Injected").length > 2, 60_000, "both pauses");
    assert.deepEqual(await Promise.all(ids.map((i) => state(i).then((s) => s.Paused))), [true, true]);
    cli.kill("SIGKILL");
    await waitFor("the reaper to unpause both", async () => (await Promise.all(ids.map((i) => state(i).then((s) => !s.Paused)))).every(Boolean), 15_000, 100);
    assert.match(out, /Found 2 container\(s\)/);
  });

  test("a worker run pauses containers selected in the experiment; after the worker's SIGKILL its reaper unpauses them", async () => {
    const { apiCall, startWorkerProcess, tempHome } = await import("../../e2e/kit");
    const tag = uniq();
    const ids = [await dk.run(`${tag}-pay-1`, ["sleep", "300"], { labels: { app: tag } }), await dk.run(`${tag}-pay-2`, ["sleep", "300"], { labels: { app: tag } })];
    const probe = http.createServer((_q, r) => r.end("ok")).listen(0, "127.0.0.1");
    await new Promise((r) => probe.once("listening", r));
    const url = `http://127.0.0.1:${(probe.address() as net.AddressInfo).port}/`;
    const worker = await startWorkerProcess(tempHome(), { env: { DOCKER_HOST: dk.engine, GAMEDAY_WARMUP_MS: "300" } });
    try {
      const yaml = `apiVersion: gameday/v1
kind: Experiment
metadata: { name: pay-freeze }
spec:
  hypothesis: orders time out cleanly while payments freeze
  targets:
    pay: { container: { labels: { app: "${tag}" } }, mode: all }
  steadyState: { probes: [{ name: up, type: http, url: "${url}", interval: 100ms, window: 1s, tolerance: { min: 0.5 } }] }
  method:
    - { fault: container-pause, target: pay, duration: 60s }
`;
      const r = await apiCall<{ run: { id: string } }>(worker, "POST", "/api/v1/runs", { yaml });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await waitFor("both containers paused by the worker", async () => (await Promise.all(ids.map((i) => state(i).then((s) => s.Paused)))).every(Boolean), 30_000, 100);
      await worker.stop("SIGKILL");
      const t0 = performance.now();
      await waitFor("the reaper to unpause both", async () => (await Promise.all(ids.map((i) => state(i).then((s) => !s.Paused)))).every(Boolean), 15_000, 50);
      assert.ok(performance.now() - t0 < 15_000);
    } finally {
      await worker.stop("SIGKILL");
      probe.close();
    }
  });

  test("docker-monkey: bad input names the flag and changes nothing; a dry run changes nothing", async () => {
    const { runCli } = await import("../../e2e/kit");
    const env = { DOCKER_HOST: dk.engine, GAMEDAY_HOME: tempDir("gameday-docker-home-") };
    const bad = await runCli(["docker-monkey", "limit", "--name", "x", "--cpus", "lots"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--cpus: expected a number of CPUs/);
    const wrong = await runCli(["docker-monkey", "pause", "--name", "x", "--grace", "1s"], env);
    assert.match(wrong.stderr, /--grace does not apply to pause/);
    const none = await runCli(["docker-monkey", "pause", "--label", "nobody=here"], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no running container matches label nobody=here/);
    const id = await dk.run(uniq(), ["sleep", "300"]);
    const dry = await runCli(["docker-monkey", "stop", "--id", id.slice(0, 12), "--dry-run", "--duration", "200ms"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /WOULD hit \(dry run\): container/);
    assert.equal((await state(id)).Running, true);
  });

  test("no container labelled gameday.test is left by these tests once they are removed", async () => {
    for (const c of await dk.testContainers()) await dk.docker.getContainer(c.Id).remove({ force: true });
    assert.equal((await dk.testContainers()).length, 0, `label ${TEST_LABEL}`);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function get(port: number, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/index.html", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

async function listenOnce(): Promise<{ port: number; hits: () => number; close: () => void }> {
  let hits = 0;
  const s = net.createServer((c) => {
    hits++;
    c.destroy();
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { port: (s.address() as net.AddressInfo).port, hits: () => hits, close: () => s.close() };
}
