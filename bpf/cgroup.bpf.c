// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup sensor (v2 hierarchy only): mkdir/rmdir let the daemon match
 * `jobs.cgroup` globs as cgroups appear; attach makes a task that arrives in
 * a job's cgroup a member, and reports a job task that moves away (it stays
 * in its job: leaving a cgroup is no way out).
 */
#include "lib/maps.h"
#include "lib/task.h"

/* The default (v2) hierarchy is hierarchy 0; v1 hierarchies are numbered from 1. */
static __always_inline bool cgroup__on_dfl(struct cgroup *cgrp)
{
	return BPF_CORE_READ(cgrp, root, hierarchy_id) == 0;
}

static __always_inline void cgroup__emit(__u32 kind, struct cgroup *cgrp, const char *path,
					 struct task_struct *task, __u64 job_id)
{
	struct fts_cgroup_event *e;
	__u32 size = sizeof(*e) + FTS_CGROUP_PATH_MAX;
	long len;

	e = event__reserve(size);
	if (!e)
		return;
	e->id = BPF_CORE_READ(cgrp, kn, id);
	event__header(&e->hdr, kind, size, task, job_id, e->id);
	e->level = BPF_CORE_READ(cgrp, level);
	len = bpf_probe_read_kernel_str(e->path, FTS_CGROUP_PATH_MAX, path);
	e->path_len = len > 0 ? len : 0;
	e->_pad = 0;
	event__submit(e);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(fts_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	if (cgroup__on_dfl(cgrp))
		cgroup__emit(FTS_EV_CGROUP_MKDIR, cgrp, path, bpf_get_current_task_btf(), 0);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(fts_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	if (cgroup__on_dfl(cgrp))
		cgroup__emit(FTS_EV_CGROUP_RMDIR, cgrp, path, bpf_get_current_task_btf(), 0);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(fts_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u64 start_ns = task__start_ns(task);
	struct fts_task_state *st;
	struct fts_cgroup_job *cj;
	__u64 id;

	if (!cgroup__on_dfl(dst) || BPF_CORE_READ(task, pid) != tgid)
		return 0; /* one report per process: its leader's move */
	st = task__tracked(tgid, start_ns);
	if (st) {
		cgroup__emit(FTS_EV_CGROUP_ATTACH, dst, path, task, st->job_id);
		return 0;
	}
	id = BPF_CORE_READ(dst, kn, id);
	cj = bpf_map_lookup_elem(&job_cgroups, &id);
	if (!cj)
		return 0;
	task__track(tgid, start_ns, cj->job_id, cj->policy);
	cgroup__emit(FTS_EV_CGROUP_ATTACH, dst, path, task, cj->job_id);
	return 0;
}
