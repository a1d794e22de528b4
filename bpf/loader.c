/* gameday-bpf: load one of Game Day's BPF objects, fill its configuration,
 * attach its programs to one cgroup v2 folder through BPF links, and report
 * the evidence counters as one JSON line every 200 ms on stdout.
 *
 * The links live exactly as long as this process: SIGTERM, SIGINT, stdin
 * closing (the parent went away) or the parent's death (PR_SET_PDEATHSIG)
 * detach them and exit; SIGKILL closes the link fds in the kernel, which
 * detaches them too. Nothing is pinned, so nothing outlives the loader.
 *
 *   gameday-bpf probe OBJ                       load (verifier) and exit
 *   gameday-bpf run OBJ CGROUP-DIR PROGS KEY=VALUE... [--tag T] [--parent PID]
 *     PROGS: comma-separated program names (gd_connect4,gd_sendmsg4,...)
 *     keys:  err ppm after proto direction tgid dst=ADDR/PREFIX port=N (repeatable)
 *     CGROUP-DIR "-": attach PROGS as kprobes, to each fn=FUNCTION key
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "gameday.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int fail(const char *what, int err)
{
	printf("{\"error\":\"%s: %s\"}\n", what, strerror(err < 0 ? -err : err));
	fflush(stdout);
	return 2;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* the verifier log goes to stderr, where the caller collects it */
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int parse_cidr(const char *s, struct gd_cidr *d)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", s);
	char *slash = strchr(buf, '/');
	int prefix = -1;
	if (slash) {
		*slash = 0;
		prefix = atoi(slash + 1);
	}
	memset(d, 0, sizeof *d);
	if (inet_pton(AF_INET, buf, d->addr) == 1) {
		d->family = 4;
		d->prefix = prefix < 0 || prefix > 32 ? 32 : prefix;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, d->addr) == 1) {
		d->family = 6;
		d->prefix = prefix < 0 || prefix > 128 ? 128 : prefix;
		return 0;
	}
	return -1;
}

#define MAX_FN 16
static const char *fns[MAX_FN];
static int nfn;

static int parse_conf(int argc, char **argv, struct gd_config *c, const char **tag, int *parent)
{
	memset(c, 0, sizeof *c);
	c->ppm = 1000000;
	c->proto = GD_TCP | GD_UDP;
	c->direction = GD_EGRESS | GD_INGRESS;
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];
		if (!strcmp(a, "--tag") && i + 1 < argc) { *tag = argv[++i]; continue; }
		if (!strcmp(a, "--parent") && i + 1 < argc) { *parent = atoi(argv[++i]); continue; }
		char *eq = strchr(a, '=');
		if (!eq) return -1;
		*eq = 0;
		const char *v = eq + 1;
		if (!strcmp(a, "err")) c->err = strtoul(v, 0, 10);
		else if (!strcmp(a, "ppm")) c->ppm = strtoul(v, 0, 10);
		else if (!strcmp(a, "after")) c->after = strtoull(v, 0, 10);
		else if (!strcmp(a, "proto")) c->proto = strtoul(v, 0, 10);
		else if (!strcmp(a, "direction")) c->direction = strtoul(v, 0, 10);
		else if (!strcmp(a, "tgid")) c->tgid = strtoul(v, 0, 10);
		else if (!strcmp(a, "fn")) {
			if (nfn >= MAX_FN) return -1;
			fns[nfn++] = v;
		}
		else if (!strcmp(a, "dst")) {
			if (c->ndst >= GD_MAX_DST || parse_cidr(v, &c->dst[c->ndst])) return -1;
			c->ndst++;
		} else if (!strcmp(a, "port")) {
			if (c->nport >= GD_MAX_PORT) return -1;
			c->port[c->nport++] = strtoul(v, 0, 10);
		} else return -1;
	}
	return 0;
}

static void report(int stats_fd, const char *state)
{
	__u64 v[GD_NSTATS] = {0};
	for (__u32 k = 0; k < GD_NSTATS; k++) bpf_map_lookup_elem(stats_fd, &k, &v[k]);
	printf("{\"state\":\"%s\",\"seen\":%llu,\"matched\":%llu,\"injected\":%llu}\n", state, (unsigned long long)v[GD_SEEN],
	       (unsigned long long)v[GD_MATCHED], (unsigned long long)v[GD_INJECTED]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	libbpf_set_print(quiet);
	if (argc < 3) {
		fprintf(stderr, "usage: gameday-bpf probe OBJ | run OBJ CGROUP PROGS KEY=VALUE...\n");
		return 1;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
	if (!obj) return fail("open", errno);
	int err = bpf_object__load(obj);
	if (err) return fail("load", err);
	if (!strcmp(argv[1], "probe")) {
		printf("{\"state\":\"loaded\"}\n");
		return 0;
	}
	if (strcmp(argv[1], "run") || argc < 5) return fail("usage", EINVAL);

	struct gd_config c;
	const char *tag = NULL;
	int parent = 0;
	if (parse_conf(argc - 5, argv + 5, &c, &tag, &parent)) return fail("config", EINVAL);
	(void)tag; /* in argv for /proc: revert finds us by it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (parent && getppid() != parent) return fail("parent", ESRCH);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, on_signal);

	__u32 key = 0;
	struct bpf_map *cfg = bpf_object__find_map_by_name(obj, "cfg");
	struct bpf_map *st = bpf_object__find_map_by_name(obj, "stats");
	if (!cfg || !st) return fail("maps", ENOENT);
	if (bpf_map__update_elem(cfg, &key, sizeof key, &c, sizeof c, BPF_ANY)) return fail("config map", errno);
	int kprobes = !strcmp(argv[3], "-");
	int cg = kprobes ? -1 : open(argv[3], O_RDONLY | O_DIRECTORY);
	if (!kprobes && cg < 0) return fail("cgroup", errno);

	struct bpf_link *links[MAX_FN];
	int n = 0;
	char *progs = strdup(argv[4]);
	for (char *name = strtok(progs, ","); name; name = strtok(NULL, ",")) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
		if (!p) return fail(name, ENOENT);
		for (int i = 0; i < (kprobes ? nfn : 1) && n < MAX_FN; i++) {
			/* a kprobe link and a cgroup link alike: released when our fd closes */
			links[n] = kprobes ? bpf_program__attach_kprobe(p, false, fns[i]) : bpf_program__attach_cgroup(p, cg);
			if (!links[n]) {
				int e = errno;
				while (n--) bpf_link__destroy(links[n]);
				return fail(kprobes ? fns[i] : name, e);
			}
			n++;
		}
	}
	int stats_fd = bpf_map__fd(st);
	report(stats_fd, "attached");
	struct pollfd in = {.fd = 0, .events = POLLIN};
	while (!stop) {
		int r = poll(&in, 1, 200);
		if (r > 0) {
			char buf[64];
			if (read(0, buf, sizeof buf) <= 0) break; /* the parent closed our stdin */
		}
		report(stats_fd, "attached");
	}
	for (int i = 0; i < n; i++) bpf_link__destroy(links[i]);
	report(stats_fd, "detached");
	bpf_object__close(obj);
	return 0;
}
