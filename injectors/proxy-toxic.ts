// proxy-toxic: put a Toxiproxy-style TCP proxy with toxics (latency,
// bandwidth, slow_close, timeout, reset_peer, slicer, limit_data) between a
// client and the target; see injectors/proxy/.
import { proxyInjector } from "./proxy/fault";
import { register } from "./registry";

export const proxyToxic = proxyInjector({
  name: "proxy-toxic",
  description: "A TCP proxy on params.listen to the target (dst:dstPort) with Toxiproxy toxics: latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data.",
  layer: "tcp",
});

register(proxyToxic);
