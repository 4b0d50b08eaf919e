/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading a task's identity and job membership; filling a record header. */
#ifndef FTS_BPF_TASK_H
#define FTS_BPF_TASK_H

#include "maps.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define FTS_NO_POLICY 0xffffffffu

static __always_inline void counter__inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

/* The same, for counters the daemon subtracts from one another (a lost
 * increment there would be a false loss): a program preempted on its CPU by
 * another run of it, or by softirq, cannot lose one. */
static __always_inline void counter__inc_exact(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The daemon's own thread group, set by the loader before load (read-only
 * data: a constant to the verifier, no map lookup on the hot paths). Its own
 * opens, execs and map handling are not reported; signals to it are. __weak:
 * every object that includes this header shares the one definition. */
const volatile __u32 fts_daemon_tgid __weak = 0;

static __always_inline bool task__is_daemon(__u32 tgid)
{
	return fts_daemon_tgid && tgid == fts_daemon_tgid;
}

static __always_inline struct fts_settings *settings__get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&settings, &zero);
}

/* A process's start: its group leader's, so every thread agrees. */
static __always_inline __u64 task__start_ns(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline void task__id(struct task_struct *task, struct fts_task_id *id)
{
	id->tgid = BPF_CORE_READ(task, tgid);
	id->_pad = 0;
	id->start_ns = task__start_ns(task);
}

static __always_inline void task__parent_id(struct task_struct *task, struct fts_task_id *id)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);

	task__id(parent, id);
}

/*
 * The job membership of a process, or NULL. An entry whose start time differs
 * belongs to an earlier process with the same pid whose exit we did not see:
 * it is removed, never inherited.
 */
static __always_inline struct fts_task_state *task__same_start(struct fts_task_state *st, __u32 tgid,
							     __u64 start_ns)
{
	if (st->start_ticks != start_ns / FTS_NS_PER_TICK) {
		bpf_map_delete_elem(&tasks, &tgid);
		return NULL;
	}
	return st;
}

static __always_inline struct fts_task_state *task__tracked(__u32 tgid, __u64 start_ns)
{
	struct fts_task_state *st = bpf_map_lookup_elem(&tasks, &tgid);

	return st ? task__same_start(st, tgid, start_ns) : NULL;
}

/* Set once the tasks map has refused a member: from then on a task missing
 * from it may still be a job's, and the hooks that can refuse look at its
 * parents (task__job_by_parents). Until then the untracked path stays one
 * lookup. __weak: one definition for every object, like fts_daemon_tgid. */
__u32 fts_tasks_overflowed __weak = 0;

/* Make a process a member of a job. Returns 0, or <0 when the map is full. */
static __always_inline int task__track(__u32 tgid, __u64 start_ns, __u64 job_id, __u32 policy)
{
	struct fts_task_state st = {
		.start_ticks = start_ns / FTS_NS_PER_TICK,
		.job_id = job_id,
		.policy = policy,
	};
	int err = bpf_map_update_elem(&tasks, &tgid, &st, BPF_ANY);

	if (err) {
		counter__inc(FTS_CNT_TASKS_FULL);
		fts_tasks_overflowed = 1;
	}
	return err;
}

#define FTS_PARENT_WALK 16 /* real_parent steps: deeper trees of untracked tasks stay unknown */

/* The job of the nearest tracked ancestor of @task, for a task the full tasks
 * map left out (fork inherits membership only when there is room). NULL
 * before any overflow, or when no ancestor within FTS_PARENT_WALK is tracked. */
static __always_inline struct fts_task_state *task__job_by_parents(struct task_struct *task)
{
	struct fts_task_state *st;
	struct task_struct *p = task;

	if (!fts_tasks_overflowed)
		return NULL;
	for (int i = 0; i < FTS_PARENT_WALK; i++) {
		p = BPF_CORE_READ(p, real_parent);
		if (!p || BPF_CORE_READ(p, tgid) <= 1)
			return NULL;
		st = task__tracked(BPF_CORE_READ(p, tgid), task__start_ns(p));
		if (st)
			return st;
	}
	return NULL;
}

static __always_inline void event__header(struct fts_event_header *hdr, __u32 kind, __u32 size,
					  struct task_struct *task, __u64 job_id, __u64 cgroup_id)
{
	hdr->kind = kind;
	hdr->size = size;
	hdr->ts_ns = bpf_ktime_get_boot_ns();
	hdr->job_id = job_id;
	hdr->cgroup_id = cgroup_id;
	task__id(task, &hdr->task);
	hdr->tid = BPF_CORE_READ(task, pid);
	hdr->cpu = bpf_get_smp_processor_id();
}

/* The header of a record about a task that is not the current one (a packet
 * in softirq, a connection accepted for a listener): the identity the caller
 * kept, no thread, no cgroup. */
static __always_inline void event__header_for(struct fts_event_header *hdr, __u32 kind, __u32 size,
					      const struct fts_task_id *task, __u64 job_id)
{
	hdr->kind = kind;
	hdr->size = size;
	hdr->ts_ns = bpf_ktime_get_boot_ns();
	hdr->job_id = job_id;
	hdr->cgroup_id = 0;
	hdr->task = *task;
	hdr->tid = 0;
	hdr->cpu = bpf_get_smp_processor_id();
}

/* Reserve a fixed-size record; a failure is counted, never silent. */
static __always_inline void *event__reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		counter__inc(FTS_CNT_RINGBUF_DROPS);
	return e;
}

/* Records sent without waking the daemon are pending: the next record that
 * wakes it forces the wakeup (see ring__wakeup). A plain store, read racily:
 * a lost update delays a record by one FTS_RING_POLL_MS drain at most. */
__u32 fts_lazy_pending __weak = 0;

/* How a record wakes the daemon. Batching every record (BPF_RB_NO_WAKEUP
 * until 64 KiB wait, the daemon draining every FTS_RING_POLL_MS anyway) cut
 * a job's fork/exec cost (tests/bench --bpf-stats), but it let a child fork,
 * exec or enter a job's cgroup before the daemon had registered the job, and
 * a short-lived actor exit before its /proc was read (test_process,
 * test_evasion_sensor). So records wake it as before: flags 0, the kernel's
 * adaptive notification (a wakeup only when the daemon has caught up and
 * waits); only the records that nothing waits on are sent lazily
 * (event__output_lazy). Adaptive notification alone would then skip the
 * wakeup of the next record (the daemon has not caught up with the lazy
 * ones), so that record forces it. */
static __always_inline __u64 ring__wakeup(void)
{
	if (fts_lazy_pending) {
		fts_lazy_pending = 0;
		return BPF_RB_FORCE_WAKEUP;
	}
	return 0;
}

/* The flags of a record sent without a wakeup: it is pending until the next
 * record that wakes the daemon forces the wakeup (ring__wakeup). */
static __always_inline __u64 ring__lazy(void)
{
	if (!fts_lazy_pending)
		fts_lazy_pending = 1;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void event__submit(void *e)
{
	bpf_ringbuf_submit(e, ring__wakeup());
	counter__inc(FTS_CNT_EVENTS);
}

static __always_inline void event__sent(long err)
{
	if (err)
		counter__inc(FTS_CNT_RINGBUF_DROPS);
	else
		counter__inc(FTS_CNT_EVENTS);
}

/* Send a record built in scratch space; size is bounded by the caller. */
static __always_inline void event__output(void *buf, __u64 size)
{
	event__sent(bpf_ringbuf_output(&events, buf, size, ring__wakeup()));
}

/* A reserved record nothing waits on: see event__output_lazy. */
static __always_inline void event__submit_lazy(void *e)
{
	bpf_ringbuf_submit(e, ring__lazy());
	counter__inc(FTS_CNT_EVENTS);
}

/* A record built in scratch space that nothing waits on (a model file's
 * load window, its close; a job's fork and exit): no wakeup of its own. The
 * daemon reads it at its next drain, FTS_RING_POLL_MS at most, or with the
 * next record that wakes it; the ring keeps the order, so a load window
 * still brackets what follows. A wakeup per record is an interrupt and a
 * daemon context switch on the job's cores (tests/bench: "open shard, job",
 * "fork/exec, job"). A fork needs no daemon to track the child (the kernel
 * does, task__track), and nothing waits on an exit; nor on an exec in a
 * job, only on one that starts or joins one (exec__ring_flags). */
static __always_inline void event__output_lazy(void *buf, __u64 size)
{
	event__sent(bpf_ringbuf_output(&events, buf, size, ring__lazy()));
}

static __always_inline void *scratch__get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

#endif /* FTS_BPF_TASK_H */
