// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory access to job processes from outside: ptrace and process_vm_*.
 * Syscall exit tracepoints, so the record carries the result (an attach the
 * kernel refused is still an attempt worth saying). These syscalls are rare;
 * untracked targets cost one map lookup. /proc/PID/mem opens are checked in
 * the file sensor's open hooks (lib/access.h).
 */
#include "lib/access.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206

SEC("tracepoint/syscalls/sys_exit_ptrace")
int fts_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;
	long req;

	sys_args__read(bpf_get_current_task_btf(), &a);
	req = (long)a.a[0];
	if (req == PTRACE_TRACEME)
		return 0; /* names no target */
	/* An attach is always said; the requests a tracer makes after it once per kind. */
	access__by_pid((__u32)a.a[1], FTS_ACCESS_PTRACE, ctx->ret, req,
		       req != PTRACE_ATTACH && req != PTRACE_SEIZE);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_process_vm_readv")
int fts_exit_process_vm_readv(struct trace_event_raw_sys_exit *ctx)
{
	access__vm(FTS_ACCESS_VM_READ, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_process_vm_writev")
int fts_exit_process_vm_writev(struct trace_event_raw_sys_exit *ctx)
{
	access__vm(FTS_ACCESS_VM_WRITE, ctx->ret);
	return 0;
}
