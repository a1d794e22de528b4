/* gameday-ptrace: make chosen system calls of a running process fail with an
 * errno, without restarting it, on any kernel (no kprobes, no BPF needed).
 *
 *   gameday-ptrace PID SYSCALLS ERRNO PPM AFTER [PATH-GLOB] [--tag T] [--parent P]
 *     SYSCALLS: comma-separated numbers (x86-64), resolved by the caller
 *     PPM:      share of the matching calls to fail, per million
 *     AFTER:    matching calls to let through first ("the 3rd call on" = 2)
 *     GLOB:     only calls on a path matching it (fnmatch): the path argument
 *               of open/openat/stat-like calls, or /proc/PID/fd/N of fd calls
 *
 * Every thread is PTRACE_SEIZEd (no signal is sent, so the process sees no
 * stop) and new threads are followed (PTRACE_O_TRACECLONE). A failed call is
 * skipped at its entry (orig_rax = -1) and its result set to -ERRNO at exit.
 * A running process cannot be given a seccomp filter from outside (and one
 * could never be removed again: its RET_TRACE turns into ENOSYS once the
 * tracer goes), so every syscall stops here; the filtering is by number, first
 * thing, which is what bench/bpf.ts measures. SIGTERM/SIGINT/stdin closing/the
 * parent's death: every thread is interrupted and detached, and we exit. If
 * we are SIGKILLed the kernel detaches the threads and they run on untraced.
 * Counters: one JSON line every 200 ms on stdout. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 4096
#define MAX_NR 512

struct thread {
	pid_t tid;
	int injected; /* this thread's current syscall was skipped: set the errno at its exit */
	int next;     /* the next syscall stop: 0 unknown (ask the kernel), 1 entry, 2 exit */
};

static struct thread threads[MAX_THREADS];
static int nthreads;
static unsigned char chosen[MAX_NR];
static pid_t target;
static int err_no;
static unsigned ppm;
static unsigned long long after;
static const char *glob;
static unsigned long long seen, matched, injected;
static volatile sig_atomic_t stop, tick;

static void on_stop(int s) { (void)s; stop = 1; }
static void on_tick(int s) { (void)s; tick = 1; }

static struct thread *find(pid_t tid)
{
	for (int i = 0; i < nthreads; i++)
		if (threads[i].tid == tid) return &threads[i];
	return NULL;
}

static struct thread *add(pid_t tid)
{
	struct thread *t = find(tid);
	if (t || nthreads >= MAX_THREADS) return t;
	t = &threads[nthreads++];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	return t;
}

static void drop(pid_t tid)
{
	for (int i = 0; i < nthreads; i++)
		if (threads[i].tid == tid) {
			threads[i] = threads[--nthreads];
			return;
		}
}

static void report(const char *state)
{
	printf("{\"state\":\"%s\",\"threads\":%d,\"seen\":%llu,\"matched\":%llu,\"injected\":%llu}\n", state, nthreads, seen, matched,
	       injected);
	fflush(stdout);
}

/* the path argument of path calls; for fd calls the fd's path */
static int path_of(pid_t tid, const struct user_regs_struct *r, char *out, size_t len)
{
	unsigned long nr = r->orig_rax, addr = 0;
	switch (nr) {
	case SYS_open: case SYS_stat: case SYS_lstat: case SYS_access: case SYS_creat: case SYS_truncate:
	case SYS_unlink: case SYS_mkdir: case SYS_rmdir: case SYS_chmod: case SYS_readlink:
		addr = r->rdi;
		break;
	case SYS_openat: case SYS_newfstatat: case SYS_faccessat: case SYS_unlinkat: case SYS_mkdirat: case SYS_statx:
	case SYS_openat2: case SYS_readlinkat:
		addr = r->rsi;
		break;
	default: {
		char link[64];
		snprintf(link, sizeof link, "/proc/%d/fd/%d", target, (int)r->rdi);
		ssize_t n = readlink(link, out, len - 1);
		if (n < 0) return -1;
		out[n] = 0;
		return 0;
	}
	}
	struct iovec local = {out, len - 1}, remote = {(void *)addr, len - 1};
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n <= 0) return -1;
	out[n] = 0;
	out[strnlen(out, n)] = 0;
	return 0;
}

static int decide(pid_t tid, const struct user_regs_struct *r)
{
	seen++;
	if (glob) {
		char p[4096];
		if (path_of(tid, r, p, sizeof p) || fnmatch(glob, p, 0)) return 0;
	}
	if (matched++ < after) return 0;
	if (ppm < 1000000 && (unsigned)(random() % 1000000) >= ppm) return 0;
	injected++;
	return 1;
}

/* a syscall stop. Entry and exit stops alternate, so only the first one after
 * an attach or another kind of stop asks the kernel which it is (a thread
 * seized inside a blocking call may first stop at its exit); for the others
 * the unrelated calls cost no ptrace request at all. */
static void on_syscall(struct thread *t)
{
	int op = t->next;
	unsigned long long nr = 0;
	if (!op) {
		struct __ptrace_syscall_info info;
		if (ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, sizeof info, &info) <= 0) return;
		op = info.op == PTRACE_SYSCALL_INFO_ENTRY ? 1 : info.op == PTRACE_SYSCALL_INFO_EXIT ? 2 : 0;
		if (!op) return;
	}
	t->next = op == 1 ? 2 : 1;
	if (op == 1) {
		t->injected = 0;
		if (stop) return;
		/* orig_rax: the syscall number, one word, no full register read */
		errno = 0;
		nr = ptrace(PTRACE_PEEKUSER, t->tid, offsetof(struct user_regs_struct, orig_rax), 0);
		if (errno || nr >= MAX_NR || !chosen[nr]) return;
		struct user_regs_struct r;
		if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) || !decide(t->tid, &r)) return;
		r.orig_rax = -1; /* the kernel skips the call */
		if (ptrace(PTRACE_SETREGS, t->tid, 0, &r) == 0) t->injected = 1;
		return;
	}
	if (!t->injected) return;
	t->injected = 0;
	errno = 0;
	ptrace(PTRACE_POKEUSER, t->tid, offsetof(struct user_regs_struct, rax), (long)-err_no);
}

static int attach_all(void)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", target);
	/* threads started while we attach are caught by the clone events of the ones already seized; two passes close the gap */
	for (int pass = 0; pass < 2; pass++) {
		DIR *d = opendir(dir);
		if (!d) return -1;
		struct dirent *e;
		while ((e = readdir(d))) {
			pid_t tid = atoi(e->d_name);
			if (tid <= 0 || find(tid)) continue;
			if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE)) {
				if (errno == ESRCH) continue;
				closedir(d);
				return -1;
			}
			add(tid);
			ptrace(PTRACE_INTERRUPT, tid, 0, 0);
		}
		closedir(d);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: gameday-ptrace PID SYSCALLS ERRNO PPM AFTER [GLOB] [--tag T] [--parent P]\n");
		return 1;
	}
	target = atoi(argv[1]);
	for (char *s = strtok(argv[2], ","); s; s = strtok(NULL, ",")) {
		int nr = atoi(s);
		if (nr >= 0 && nr < MAX_NR) chosen[nr] = 1;
	}
	err_no = atoi(argv[3]);
	ppm = strtoul(argv[4], 0, 10);
	after = strtoull(argv[5], 0, 10);
	int parent = 0;
	for (int i = 6; i < argc; i++) {
		if (!strcmp(argv[i], "--tag") && i + 1 < argc) i++;
		else if (!strcmp(argv[i], "--parent") && i + 1 < argc) parent = atoi(argv[++i]);
		else if (argv[i][0]) glob = argv[i];
	}
	srandom(time(NULL) ^ getpid());
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (parent && getppid() != parent) return 2;

	struct sigaction sa = {0};
	sa.sa_handler = on_stop; /* no SA_RESTART: waitpid returns EINTR */
	sigaction(SIGTERM, &sa, 0);
	sigaction(SIGINT, &sa, 0);
	sigaction(SIGPIPE, &sa, 0);
	sa.sa_handler = on_tick;
	sigaction(SIGALRM, &sa, 0);
	struct itimerval it = {{0, 200000}, {0, 200000}};
	setitimer(ITIMER_REAL, &it, 0);

	if (attach_all()) {
		printf("{\"error\":\"attach %d: %s\"}\n", target, strerror(errno));
		return 2;
	}
	report("attached");
	int interrupted = 0;
	while (nthreads > 0) {
		if (tick) {
			tick = 0;
			struct pollfd in = {.fd = 0, .events = POLLIN};
			char buf[64];
			if (poll(&in, 1, 0) > 0 && read(0, buf, sizeof buf) <= 0) stop = 1;
			if (!stop) report("attached");
		}
		if (stop && !interrupted) {
			interrupted = 1;
			for (int i = 0; i < nthreads; i++) ptrace(PTRACE_INTERRUPT, threads[i].tid, 0, 0);
		}
		int status;
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR) continue;
			break; /* ECHILD: every thread is gone */
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			drop(tid);
			continue;
		}
		struct thread *t = find(tid);
		if (!t) t = add(tid); /* a new thread's first stop may come before its parent's clone event */
		int sig = WSTOPSIG(status), event = (unsigned)status >> 16, deliver = 0;
		if (sig == (SIGTRAP | 0x80))
			on_syscall(t);
		else {
			t->next = 0; /* after any other stop, ask which syscall stop comes next */
			if (event == PTRACE_EVENT_CLONE) {
				unsigned long child;
				if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0) add(child);
			} else if (event == PTRACE_EVENT_STOP) {
				/* group-stop or our interrupt: a real stop (SIGSTOP) must hold, PTRACE_LISTEN keeps it */
				int real = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
				if (real && !stop) {
					ptrace(PTRACE_LISTEN, tid, 0, 0);
					continue;
				}
			} else if (!event)
				deliver = sig; /* a signal for the tracee: pass it on */
		}
		if (stop && !t->injected) {
			/* not between a skipped entry and its exit: let go here */
			ptrace(PTRACE_DETACH, tid, 0, deliver);
			drop(tid);
			continue;
		}
		ptrace(PTRACE_SYSCALL, tid, 0, deliver);
	}
	report("detached");
	return 0;
}
