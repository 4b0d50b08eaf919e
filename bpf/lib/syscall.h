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

/* Direct loads from the task's saved registers (a BTF pointer), not one
 * bpf_probe_read_kernel call per register: every open of every process on the
 * node passes here (tests/bench/run_bench.py --bpf-stats). */
static __always_inline void sys_args__read(struct task_struct *task, struct sys_args *args)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	args->a[0] = PT_REGS_PARM1_SYSCALL(regs);
	args->a[1] = PT_REGS_PARM2_SYSCALL(regs);
	args->a[2] = PT_REGS_PARM3_SYSCALL(regs);
	args->a[3] = PT_REGS_PARM4_SYSCALL(regs);
	args->a[4] = PT_REGS_PARM5_SYSCALL(regs);
}

/* The caller: the current task and its job (0 if none). */
struct who {
	struct task_struct *task;
	__u32 tgid;
	__u64 job_id;
};

/* False for the daemon itself, whose own syscalls are not reported. The
 * untracked fast path: two loads and one failed lookup (the start time is
 * read only for a task the map knows). */
static __always_inline bool who__get(struct who *w)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st;

	w->task = task;
	w->tgid = task->tgid;
	if (task__is_daemon(w->tgid))
		return false;
	st = bpf_map_lookup_elem(&tasks, &w->tgid);
	if (st)
		st = task__same_start(st, w->tgid, task->group_leader->start_boottime);
	w->job_id = st ? st->job_id : 0;
	return true;
}

#endif /* FTS_BPF_SYSCALL_H */
