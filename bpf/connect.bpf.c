/* connect-error: cgroup/connect4|6 (TCP and UDP connect) and
 * cgroup/sendmsg4|6 (unconnected UDP sends) fail the call with the chosen
 * errno (bpf_set_retval) for matching destinations and ports. Attached to a
 * cgroup v2 folder, they act only on the processes in it. */
#include "common.bpf.h"

static __always_inline int judge(struct bpf_sock_addr *ctx, int v6)
{
	struct gd_config *c = config();
	if (!c)
		return 1;
	bump(GD_SEEN);
	__u32 proto = ctx->protocol == IPPROTO_TCP ? GD_TCP : ctx->protocol == IPPROTO_UDP ? GD_UDP : 0;
	if (!(proto & c->proto))
		return 1;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	if (!port_ok(c, port, port))
		return 1;
	if (v6) {
		__u32 a6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
		if (!dst_ok(c, 0, a6))
			return 1;
	} else if (!dst_ok(c, ctx->user_ip4, 0))
		return 1;
	if (!strike(c))
		return 1;
	bpf_set_retval(-(int)c->err);
	return 0;
}

SEC("cgroup/connect4")
int gd_connect4(struct bpf_sock_addr *ctx) { return judge(ctx, 0); }

SEC("cgroup/connect6")
int gd_connect6(struct bpf_sock_addr *ctx) { return judge(ctx, 1); }

SEC("cgroup/sendmsg4")
int gd_sendmsg4(struct bpf_sock_addr *ctx) { return judge(ctx, 0); }

SEC("cgroup/sendmsg6")
int gd_sendmsg6(struct bpf_sock_addr *ctx) { return judge(ctx, 1); }

char LICENSE[] SEC("license") = "GPL";
