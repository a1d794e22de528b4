/* syscall-error by bpf_override_return: a kprobe on a syscall's entry
 * function (__x64_sys_<name>, marked error-injectable by SYSCALL_DEFINE) that,
 * for the target process only, skips the call and makes it return -errno.
 * Needs CONFIG_KPROBES, CONFIG_BPF_KPROBE_OVERRIDE and
 * CONFIG_FUNCTION_ERROR_INJECTION; unlike ptrace, nothing stops the process.
 * It cannot match paths (the arguments are behind the wrapper's pt_regs), so
 * a path glob keeps syscall-error on ptrace. */
#include "common.bpf.h"
#include <asm/ptrace.h>

SEC("kprobe")
int gd_override(struct pt_regs *ctx)
{
	struct gd_config *c = config();
	if (!c || (__u32)(bpf_get_current_pid_tgid() >> 32) != c->tgid)
		return 0;
	bump(GD_SEEN);
	if (strike(c))
		bpf_override_return(ctx, -(long)c->err);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
