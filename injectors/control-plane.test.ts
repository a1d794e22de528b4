// Network faults never cut the control plane's traffic: targets in the
// host's namespace carry the control-plane ports (SSH 22, the worker's and
// web app's ports, every port a Game Day process announced), iptables faults
// put RETURN rules for them before their own (proven with real iptables in
// a test namespace, where the echo port stands in for SSH), and tc faults
// that would shape them are refused.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import "./index";
import { registerSelf } from "../lib/procfs";
import { createTestNet, PORTS, sh, type TestNet } from "../e2e/netns";
import { toolsMissing } from "./net/cmd";
import { partition } from "./partition";
import { bandwidth } from "./bandwidth";
import { resolveTargets } from "./targets/resolve";
import type { NetUndo } from "./net-fault";
import type { NetworkTarget } from "./types";
import { tempHome } from "../e2e/kit";

// the evidence the faults keep (counters read before revert) goes to a home of this file's own, not to ~/.gameday
process.env.GAMEDAY_HOME = tempHome();

/** Can a TCP connection to ip:port be made within ms? */
const CONNECT = `const [ip,port,ms]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3])];
const s=require("net").connect(port,ip,()=>{console.log("ok");process.exit(0)});
s.on("error",e=>{console.log("fail:"+e.code);process.exit(0)});setTimeout(()=>{console.log("fail:timeout");process.exit(0)},ms);`;

const skip = process.getuid?.() !== 0 ? "needs root (iptables, network namespaces)" : undefined;

describe("control-plane ports", { skip, timeout: 60_000 }, () => {
  let net: TestNet;
  before(async () => {
    const missing = await toolsMissing();
    if (missing) throw new Error(missing);
    net = await createTestNet("cp");
  });
  after(() => net?.destroy());

  const side = (): NetworkTarget => ({ kind: "network", netns: net.a, src: net.ipA, dst: net.ipB, protocol: "all", direction: "both" });
  const connect = (port: number, ms = 500) => net.run(net.a, CONNECT, [net.ipB, port, ms]);

  async function partitioned(target: NetworkTarget, during: (undo: NetUndo) => Promise<void>): Promise<void> {
    const params = partition.params.parse({ action: "drop" });
    const undo = (await partition.plan(target, params)) as NetUndo;
    try {
      await partition.inject(target, params, { runId: "cp", signal: new AbortController().signal, undo });
      await during(undo);
    } finally {
      await partition.revert(target, undo);
      const v = await partition.verify(target, undo);
      assert.ok(v.ok, v.detail);
    }
  }

  test("without spared ports a partition cuts everything (the control case)", async () => {
    await partitioned(side(), async () => {
      assert.equal(await connect(PORTS.echo), "fail:timeout");
      assert.equal(await connect(PORTS.sink), "fail:timeout");
    });
  });

  test("a spared port keeps flowing through a partition: RETURN rules come before the DROP", async () => {
    assert.equal(await connect(PORTS.echo, 2000), "ok");
    await partitioned({ ...side(), spare: [PORTS.echo] }, async (undo) => {
      assert.equal(await connect(PORTS.echo, 2000), "ok", "the spared (control-plane) port still connects");
      assert.equal(await connect(PORTS.sink), "fail:timeout", "every other port is cut");
      const rules = sh("ip", "netns", "exec", net.a, "iptables", "-S", undo.chains[0].chain).split("\n").filter((l) => l.startsWith("-A "));
      const firstDrop = rules.findIndex((l) => / -j DROP/.test(l));
      const returns = rules.map((l, i) => [l, i] as const).filter(([l]) => l.includes(`${PORTS.echo} -j RETURN`));
      assert.equal(returns.length, 2, rules.join("\n"));
      assert.ok(returns.every(([, i]) => i < firstDrop), `RETURN before DROP:\n${rules.join("\n")}`);
    });
    assert.equal(await connect(PORTS.sink, 2000), "ok");
  });

  test("a fault aimed right at a spared port is refused at plan time, nothing added", async () => {
    const before = sh("ip", "netns", "exec", net.a, "iptables-save");
    await assert.rejects(async () => await partition.plan({ ...side(), protocol: "tcp", dstPort: PORTS.echo, spare: [PORTS.echo] }, { action: "drop" }), /target\.dstPort: 7001 is a control-plane port .*allowControlPlane/);
    assert.equal(sh("ip", "netns", "exec", net.a, "iptables-save"), before);
  });

  test("a tc fault whose selection includes a spared port is refused; with a port of its own it is planned", async () => {
    await assert.rejects(async () => await bandwidth.plan({ ...side(), direction: "egress", protocol: "tcp", spare: [PORTS.echo] }, { rate: "1mbit" }), /would shape every TCP port .*control plane's \(7001\)/);
    const ok = (await bandwidth.plan({ ...side(), direction: "egress", protocol: "tcp", dstPort: PORTS.sink, spare: [PORTS.echo] }, { rate: "1mbit" })) as NetUndo;
    assert.equal(ok.mechanism, "htb");
  });
});

test("targets in the host's namespace spare SSH, the configured ports and every announced port; netns targets spare nothing", async () => {
  const unregister = registerSelf(process.pid, [45678]);
  try {
    const host = await resolveTargets({ network: { dst: "127.0.0.1", direction: "egress", protocol: "tcp" }, mode: "all" }, null, new Set());
    const t = host.matched[0] as NetworkTarget;
    for (const p of [22, 3000, 3001, 45678]) assert.ok(t.spare?.includes(p), `spares ${p}: ${t.spare}`);
    const allowed = await resolveTargets({ network: { dst: "127.0.0.1", direction: "egress", protocol: "tcp" }, mode: "all" }, null, new Set(), { allowControlPlane: true });
    assert.equal((allowed.matched[0] as NetworkTarget).spare, undefined);
    const other = await resolveTargets({ network: { netns: "gdt-elsewhere", dst: "10.0.0.2", direction: "egress", protocol: "tcp" }, mode: "all" }, null, new Set());
    assert.equal((other.matched[0] as NetworkTarget).spare, undefined);
    const udp = await resolveTargets({ network: { dst: "127.0.0.1", direction: "egress", protocol: "udp" }, mode: "all" }, null, new Set());
    assert.equal((udp.matched[0] as NetworkTarget).spare, undefined, "UDP never carries the TCP control plane");
  } finally {
    unregister();
  }
});
