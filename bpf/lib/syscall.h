/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The syscall being traced: who makes it and with which arguments. */
#ifndef FTS_BPF_SYSCALL_H
#define FTS_BPF_SYSCALL_H

#include "task.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* The syscall's arguments, from the registers saved at entry: syscall exit
 * tracepoints carry only the return value. */
struct sys_args {
	unsigned long a[5];
};

static __always_inline void sys_args__read(struct task_struct *task, struct sys_args *args)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	args->a[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	args->a[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	args->a[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	args->a[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	args->a[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
}

/* The caller: the current task and its job (0 if none). */
struct who {
	struct task_struct *task;
	__u32 tgid;
	__u64 job_id;
};

/* False for the daemon itself, whose own syscalls are not reported. */
static __always_inline bool who__get(struct who *w)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st;

	w->task = task;
	w->tgid = BPF_CORE_READ(task, tgid);
	if (task__is_daemon(w->tgid))
		return false;
	st = task__tracked(w->tgid, task__start_ns(task));
	w->job_id = st ? st->job_id : 0;
	return true;
}

#endif /* FTS_BPF_SYSCALL_H */
