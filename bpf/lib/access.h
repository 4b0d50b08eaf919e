/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Another process reaching into a job task: ptrace, process_vm_readv/writev
 * and opens of /proc/PID/mem. One record per (accessor, target, kind of
 * access); the job's own processes are reported too (the rules decide), a
 * process touching itself never.
 */
#ifndef FTS_BPF_ACCESS_H
#define FTS_BPF_ACCESS_H

#include "maps.h"
#include "syscall.h"
#include "task.h"
#include <bpf/bpf_core_read.h>

#define FTS_PROC_SUPER_MAGIC 0x9fa0

/* First time this accessor did this to this target? Marks it seen. */
static __always_inline bool access__first(__u32 tgid, __u32 target, __u32 op)
{
	struct fts_access_seen_key key = { .tgid = tgid, .target = target, .op = op };
	__u8 one = 1;

	if (bpf_map_lookup_elem(&access_seen, &key))
		return false;
	bpf_map_update_elem(&access_seen, &key, &one, BPF_ANY);
	return true;
}

static __always_inline void access__report(struct task_struct *accessor, __u64 accessor_job, __u32 target_tgid,
					   __u64 target_start_ns, __u64 target_job, __u32 target_tid, __u32 op,
					   long result, __u64 arg)
{
	struct fts_process_access_event *e = event__reserve(sizeof(*e));

	if (!e)
		return;
	event__header(&e->hdr, FTS_EV_PROCESS_ACCESS, sizeof(*e), accessor, accessor_job, bpf_get_current_cgroup_id());
	e->target.tgid = target_tgid;
	e->target._pad = 0;
	e->target.start_ns = target_start_ns;
	e->target_job = target_job;
	e->target_tid = target_tid;
	e->op = op;
	e->_pad = 0;
	e->result = result;
	e->arg = arg;
	event__submit(e);
}

/*
 * A syscall that names its target by pid (ptrace, process_vm_*). The pid is
 * looked up as a tgid in the tasks map, which holds only live job processes:
 * untracked targets cost one lookup. A job thread other than the leader, or a
 * pid from another pid namespace, is not resolved (documented limit).
 */
static __always_inline void access__by_pid(__u32 pid, __u32 op, long result, __u64 arg, bool once)
{
	struct fts_task_state *st = bpf_map_lookup_elem(&tasks, &pid);
	__u64 target_job, start_ticks;
	struct who w;

	if (!st)
		return;
	target_job = st->job_id;
	start_ticks = st->start_ticks;
	if (!who__get(&w) || w.tgid == pid)
		return;
	if (once && !access__first(w.tgid, pid, op | (arg << 8)))
		return;
	access__report(w.task, w.job_id, pid, start_ticks * FTS_NS_PER_TICK, target_job, pid, op, result, arg);
}

/* process_vm_readv/writev(pid, …): the target is the first argument. */
static __always_inline void access__vm(__u32 op, long result)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	access__by_pid((__u32)a.a[0], op, result, 0, true);
}

/*
 * An open that returned @f: is it /proc/PID/mem of a job process? Everyone's
 * opens pass here, so the first test is two loads: the superblock's magic.
 * The target comes from the proc inode's struct pid, the kernel's object, not
 * from the path the caller gave.
 */
static __always_inline void proc_mem__check(struct task_struct *task, __u32 tgid, __u64 job_id, struct file *f,
					    __u32 oflags, long ret)
{
	struct inode *inode;
	struct proc_inode *pi;
	struct hlist_node *first;
	struct task_struct *t;
	struct fts_task_state *st;
	struct pid *pid;
	char name[5] = {};
	__u32 ttgid;
	__u64 tstart;

	/* @f is file__typed's (file.bpf.c): a direct load first, the walk below only for proc. */
	if (f->f_inode->i_sb->s_magic != FTS_PROC_SUPER_MAGIC)
		return;
	inode = BPF_CORE_READ(f, f_inode);
	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name)) != 4 ||
	    name[0] != 'm' || name[1] != 'e' || name[2] != 'm')
		return;
	pi = container_of(inode, struct proc_inode, vfs_inode);
	pid = BPF_CORE_READ(pi, pid);
	first = BPF_CORE_READ(pid, tasks[PIDTYPE_PID].first);
	if (!first)
		return; /* the task is gone */
	t = container_of(first, struct task_struct, pid_links);
	ttgid = BPF_CORE_READ(t, tgid);
	if (ttgid == tgid)
		return; /* its own memory */
	tstart = task__start_ns(t);
	st = task__tracked(ttgid, tstart);
	if (!st)
		return;
	access__report(task, job_id, ttgid, tstart, st->job_id, BPF_CORE_READ(t, pid), FTS_ACCESS_MEM_OPEN, ret,
		       oflags);
}

#endif /* FTS_BPF_ACCESS_H */
