/* Helpers shared by the cgroup programs: config lookup, counters, the
 * destination/port filters and the dice. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "gameday.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gd_config);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GD_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline __u64 bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);
	return v ? __sync_fetch_and_add(v, 1) : 0;
}

static __always_inline struct gd_config *config(void)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&cfg, &k);
}

static __always_inline int port_ok(const struct gd_config *c, __u16 a, __u16 b)
{
	if (c->nport == 0)
		return 1;
#pragma unroll
	for (int i = 0; i < GD_MAX_PORT; i++)
		if (i < c->nport && (c->port[i] == a || c->port[i] == b))
			return 1;
	return 0;
}

static __always_inline int word_ok(__u32 addr, __u32 net, int bits)
{
	if (bits <= 0)
		return 1;
	__u32 mask = bits >= 32 ? 0xffffffff : ~(0xffffffffu >> bits);
	return (bpf_ntohl(addr) & mask) == (bpf_ntohl(net) & mask);
}

/* a4 for IPv4 (a6 NULL), or a6 (4 words, network order) */
static __always_inline int dst_ok(const struct gd_config *c, __u32 a4, const __u32 *a6)
{
	if (c->ndst == 0)
		return 1;
	for (int i = 0; i < GD_MAX_DST; i++) { /* a bounded loop: the verifier walks it */
		if (i >= c->ndst)
			break;
		const struct gd_cidr *d = &c->dst[i];
		int p = d->prefix;
		if (!a6) {
			if (d->family == 4 && word_ok(a4, d->addr[0], p))
				return 1;
			continue;
		}
		if (d->family != 6)
			continue;
		if (word_ok(a6[0], d->addr[0], p) && word_ok(a6[1], d->addr[1], p - 32) && word_ok(a6[2], d->addr[2], p - 64) &&
		    word_ok(a6[3], d->addr[3], p - 96))
			return 1;
	}
	return 0;
}

/* a matching call: let the first `after` through, then fail a share ppm */
static __always_inline int strike(const struct gd_config *c)
{
	__u64 n = bump(GD_MATCHED);
	if (n < c->after)
		return 0;
	if (c->ppm < 1000000 && bpf_get_prandom_u32() % 1000000 >= c->ppm)
		return 0;
	bump(GD_INJECTED);
	return 1;
}
