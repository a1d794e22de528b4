/* Shared by the BPF programs and their loader: the one configuration record
 * (array map "cfg", key 0) and the evidence counters (array map "stats").
 * Plain fixed-width fields so both sides agree on the layout. */
#ifndef GAMEDAY_BPF_H
#define GAMEDAY_BPF_H

#define GD_MAX_DST 8
#define GD_MAX_PORT 8

/* stats indexes */
#define GD_SEEN 0     /* calls/packets the program saw in the cgroup */
#define GD_MATCHED 1  /* ... that matched the destination/port/protocol filters */
#define GD_INJECTED 2 /* ... that were failed or dropped */
#define GD_NSTATS 3

/* proto bits */
#define GD_TCP 1
#define GD_UDP 2
/* direction bits (cgroup_skb) */
#define GD_EGRESS 1
#define GD_INGRESS 2

struct gd_cidr {
	__u32 addr[4]; /* network byte order; IPv4 uses addr[0] */
	__u8 family;   /* 4 or 6 */
	__u8 prefix;   /* bits */
	__u8 pad[2];
};

struct gd_config {
	__u32 err;  /* positive errno for connect/sendmsg */
	__u32 ppm;  /* share to fail or drop, per million */
	__u64 after; /* matching calls/packets to let through first */
	__u32 proto;
	__u32 direction;
	__u32 ndst;
	__u32 nport;
	__u32 tgid; /* override.bpf.c: the one process whose calls fail */
	__u32 pad;
	struct gd_cidr dst[GD_MAX_DST];
	__u16 port[GD_MAX_PORT]; /* host byte order */
};

#endif
