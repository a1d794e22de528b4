// connect-error: a running process's connect() (and, for UDP, sendmsg) fails
// with a chosen errno for chosen destinations and ports, through
// cgroup/connect4|6 (+ sendmsg4|6) programs with bpf_set_retval, attached to
// a cgroup of its own (bpf/connect.bpf.c). Nothing else about the process
// changes; revert detaches and the next connect() goes through.
import { z } from "zod";
import { errnoParam, ERRNOS } from "./bpf/errno";
import { cgroupBpfInjector } from "./bpf/cgroup-fault";
import { after, dsts, filterArgs, filterText, ports, scope, probability, protocol } from "./bpf/params";
import { register } from "./registry";

export const connectErrorParams = z
  .object({
    errno: errnoParam("ECONNREFUSED"),
    probability,
    after,
    /** destinations (IPv4/IPv6, optionally /prefix); absent: every destination */
    dst: dsts,
    /** destination ports; absent: every port */
    port: ports,
    /** tcp: connect(); udp: connect() and sendmsg() of UDP sockets */
    protocol,
    /** process (default): the target moves into a cgroup of its own, covering sockets it opens from now on; cgroup: its own cgroup in place, every socket of every process in it */
    scope,
  })
  .strict();
export type ConnectErrorParams = z.infer<typeof connectErrorParams>;

export const connectError = cgroupBpfInjector<ConnectErrorParams>({
  name: "connect-error",
  description: "Make the target's connect() (and UDP sends) fail with an errno for chosen destinations/ports (cgroup/connect4|6 BPF, bpf_set_retval).",
  obj: "connect.bpf.o",
  params: connectErrorParams,
  program(p) {
    const udp = p.protocol !== "tcp";
    const programs = ["gd_connect4", "gd_connect6", ...(udp ? ["gd_sendmsg4", "gd_sendmsg6"] : [])];
    return {
      programs,
      mechanism: `cgroup/connect4+connect6${udp ? "+sendmsg4+sendmsg6" : ""} (bpf_set_retval ${p.errno})`,
      config: [`err=${ERRNOS[p.errno]}`, ...filterArgs(p)],
      selects: filterText(p),
    };
  },
  evidence: { seen: "connect()/sendmsg() calls", injected: "failed" },
});

register(connectError);
