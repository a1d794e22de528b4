/* packet-drop: cgroup_skb ingress/egress programs drop a share of the
 * cgroup's IPv4/IPv6 packets by direction, peer address and port (either
 * end's port, so a filter on a server's port catches both directions of a
 * client's connection). Egress drops return 2 (drop + congestion
 * notification): the send call succeeds and the packet is lost, as on a
 * lossy link, instead of failing the call with EPERM. */
#include "common.bpf.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

static __always_inline int lose(struct __sk_buff *skb, __u32 dir)
{
	struct gd_config *c = config();
	if (!c || !(c->direction & dir))
		return 0;
	bump(GD_SEEN);
	__u8 l4;
	__u32 off, a4 = 0, a6[4];
	int v6 = 0;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof ip))
			return 0;
		l4 = ip.protocol;
		off = ip.ihl * 4;
		a4 = dir == GD_EGRESS ? ip.daddr : ip.saddr;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof ip6))
			return 0;
		l4 = ip6.nexthdr;
		off = sizeof ip6;
		__builtin_memcpy(a6, dir == GD_EGRESS ? ip6.daddr.in6_u.u6_addr32 : ip6.saddr.in6_u.u6_addr32, 16);
		v6 = 1;
	} else
		return 0;
	__u32 proto = l4 == IPPROTO_TCP ? GD_TCP : l4 == IPPROTO_UDP ? GD_UDP : 0;
	if (!(proto & c->proto))
		return 0;
	__u16 ports[2] = {0, 0};
	if (c->nport && bpf_skb_load_bytes(skb, off, ports, sizeof ports))
		return 0;
	if (!port_ok(c, bpf_ntohs(ports[0]), bpf_ntohs(ports[1])))
		return 0;
	if (!dst_ok(c, a4, v6 ? a6 : 0))
		return 0;
	return strike(c);
}

SEC("cgroup_skb/egress")
int gd_egress(struct __sk_buff *skb) { return lose(skb, GD_EGRESS) ? 2 : 1; }

SEC("cgroup_skb/ingress")
int gd_ingress(struct __sk_buff *skb) { return lose(skb, GD_INGRESS) ? 0 : 1; }

char LICENSE[] SEC("license") = "GPL";
