/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Load windows of pickle-based model files (checkpoint-code-exec): a job
 * process that opens one for reading gets a model record at the open and
 * another at its close(2); in between, its pickle may run code.
 *
 * Why the close is sensed here, and how it stays cheap: a close hook runs
 * for every close on the node. Nearly always no process has a model file
 * open, and the hook then stops at one load of fts_model_loaders (a global,
 * no map lookup); only while some loader has one does a close cost a hash
 * lookup by tgid in model_fds, which holds loaders only. A window whose close
 * cannot be seen (model_fds full, more than FTS_MODEL_FDS files open, fds
 * closed by exec or dup2) ends after the daemon's bounded time instead.
 *
 * A repeated load (a DataLoader worker re-opening its .pt shards) is a
 * window too, but it is held in model_fds instead of sent: when the process
 * does anything the daemon judges inside a window (an exec, a fork, a
 * connect or send, a file record), model__flush sends the held open first,
 * with the open's own time (FTS_MODEL_HELD); a held window closed with
 * nothing in it costs no record at all.
 */
#ifndef FTS_BPF_MODEL_H
#define FTS_BPF_MODEL_H

#include "file.h"
#include "syscall.h"

/* Processes with an entry in model_fds; 0: the close hook stops at once. */
__u32 fts_model_loaders __weak = 0;

/* Does @dentry's directory name end in "-packages" (site-packages,
 * dist-packages: where site.py reads .pth path files)? */
static __always_inline bool model__in_packages(struct dentry *dentry)
{
	const char want[] = "-packages";
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	const unsigned char *name = BPF_CORE_READ(parent, d_name.name);
	__u32 len = BPF_CORE_READ(parent, d_name.len);
	char tail[sizeof(want) - 1] = {};
	char diff = 0;

	if (!name || len < sizeof(tail) || bpf_probe_read_kernel(tail, sizeof(tail), name + len - sizeof(tail)))
		return false;
#pragma unroll
	for (int i = 0; i < sizeof(tail); i++)
		diff |= tail[i] ^ want[i];
	return !diff;
}

/* Is @dentry's name that of a pickle-based model file (its extension in
 * model_exts)? Only the name's last FTS_MODEL_EXT_MAX - 1 bytes are read. */
static __always_inline bool model__is_pickle(struct dentry *dentry)
{
	struct fts_model_ext_key key = {};
	char tail[FTS_MODEL_EXT_MAX] = {};
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	__u32 n = len < FTS_MODEL_EXT_MAX - 1 ? len : FTS_MODEL_EXT_MAX - 1;
	__u32 *where;
	int dot = -1;

	if (!name || !n || bpf_probe_read_kernel(tail, n & (FTS_MODEL_EXT_MAX - 1), name + len - n))
		return false;
#pragma unroll
	for (int i = 0; i < FTS_MODEL_EXT_MAX - 1; i++)
		if (i < n && tail[i] == '.')
			dot = i;
	if (dot < 0 || (dot == 0 && len == n)) /* no extension, or a hidden file's name */
		return false;
#pragma unroll
	for (int i = 0; i < FTS_MODEL_EXT_MAX - 1; i++) {
		int j = dot + i;
		char c;

		if (j >= n)
			break;
		c = tail[j & (FTS_MODEL_EXT_MAX - 1)];
		key.ext[i] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
	}
	where = bpf_map_lookup_elem(&model_exts, &key);
	return where && !(*where == FTS_MODEL_EXT_NOT_PACKAGES && model__in_packages(dentry));
}

/* Remember @fd as a model file @tgid has open: its slot in model_fds, or -1
 * when its close will not be seen. *@m is the process's entry. */
static __always_inline int model__track(__u32 tgid, __u64 start_ns, long fd, struct fts_model_fds **mp)
{
	struct fts_model_fds *m = bpf_map_lookup_elem(&model_fds, &tgid);
	int free = -1;

	if (!m) {
		struct fts_model_fds v = { .start_ns = start_ns };

#pragma unroll
		for (int i = 0; i < FTS_MODEL_FDS; i++)
			v.fd[i] = -1;
		if (!bpf_map_update_elem(&model_fds, &tgid, &v, BPF_NOEXIST))
			__sync_fetch_and_add(&fts_model_loaders, 1);
		m = bpf_map_lookup_elem(&model_fds, &tgid); /* ours, or another thread's */
		if (!m)
			goto unseen;
	}
	if (m->start_ns != start_ns) { /* an earlier process with this pid, its exit unseen */
		m->start_ns = start_ns;
		m->held = 0;
#pragma unroll
		for (int i = 0; i < FTS_MODEL_FDS; i++)
			m->fd[i] = -1;
	}
	*mp = m;
#pragma unroll
	for (int i = 0; i < FTS_MODEL_FDS; i++) {
		if (m->fd[i] == fd)
			return i;
		if (m->fd[i] < 0 && free < 0)
			free = i;
	}
	if (free >= 0 && free < FTS_MODEL_FDS) {
		m->fd[free] = fd;
		return free;
	}
unseen:
	counter__inc(FTS_CNT_MODEL_CLOSE_UNSEEN);
	return -1;
}

/* The record of a load's open or close, its path and inode left empty. */
static __always_inline void model__begin(struct fts_model_event *e, long fd, __u32 op)
{
	e->dev = 0;
	e->ino = 0;
	e->fd = fd;
	e->op = op;
	e->path_len = e->path_depth = 0;
	e->_pad = 0;
}

struct model_flush {
	struct fts_model_fds *m;
	struct task_struct *task;
	__u64 job_id;
	__u64 cgroup_id;
	__u32 held;
};

/* One held slot's open record; bpf_loop callback, so the verifier checks it
 * once, not once per path of every caller. */
static long model__flush_step(__u32 i, struct model_flush *c)
{
	struct fts_model_fds *m = c->m;
	struct fts_model_event *e;

	if (i >= FTS_MODEL_FDS)
		return 1;
	if (!(c->held & (1u << i)))
		return 0;
	e = event__reserve(sizeof(*e));
	if (!e)
		return 0;
	model__begin(e, m->fd[i], FTS_MODEL_OPEN);
	e->dev = m->dev[i];
	e->ino = m->ino[i];
	e->flags = FTS_MODEL_REPEAT | FTS_MODEL_HELD;
	event__header(&e->hdr, FTS_EV_MODEL, sizeof(*e), c->task, c->job_id, c->cgroup_id);
	e->hdr.ts_ns = m->opened_ns[i];
	event__submit_lazy(e);
	return 0;
}

/* Send what @tgid's repeated loads held back (see the top of this file),
 * before the record of what the process does next: the daemon then sees the
 * window open around it. Costs one global load while no process on the node
 * has a model file open. */
static __always_inline void model__flush(struct task_struct *task, __u32 tgid, __u64 job_id)
{
	struct model_flush c = { .task = task, .job_id = job_id };

	if (!fts_model_loaders || !job_id)
		return;
	c.m = bpf_map_lookup_elem(&model_fds, &tgid);
	if (!c.m || !(c.held = c.m->held))
		return;
	c.m->held = 0;
	c.cgroup_id = bpf_get_current_cgroup_id();
	bpf_loop(FTS_MODEL_FDS, model__flush_step, &c, 0);
}

/* @f: the file opened (its inode; its path unless @flags says a repeat), or NULL at a close. */
static __always_inline void model__send(struct who *w, struct file *f, long fd, __u32 op, __u32 flags)
{
	struct fts_model_event *e = scratch__get();
	__u32 pflags = 0, size;

	if (!e)
		return;
	model__begin(e, fd, op);
	if (f) {
		e->dev = inode__dev(BPF_CORE_READ(f, f_inode));
		e->ino = BPF_CORE_READ(f, f_inode, i_ino);
		/* A repeated load names its inode only: the daemon has the path
		 * from the process's first load of it, and the walk up the
		 * dentries is most of the record's cost. */
		if (!(flags & FTS_MODEL_REPEAT))
			e->path_len = path__encode(&f->f_path, (char *)e, sizeof(*e), &e->path_depth, &pflags);
	}
	e->flags = pflags | flags;
	size = sizeof(*e) + e->path_len;
	event__header(&e->hdr, FTS_EV_MODEL, size, w->task, w->job_id, bpf_get_current_cgroup_id());
	/* Nothing waits on a window's bounds: what happens inside it does, and
	 * its own record wakes the daemon (a DataLoader loading .pt shards would
	 * otherwise wake it twice per shard). */
	event__output_lazy(e, size & FTS_SCRATCH_MASK);
}

/* A job process opened @f as @fd with @access: a load window when it reads a
 * pickle-based model file. */
static __always_inline void model__open(struct who *w, struct file *f, __u32 access, long fd)
{
	const __u32 changes = FTS_ACC_WRITE | FTS_ACC_CREAT | FTS_ACC_TRUNC | FTS_ACC_APPEND | FTS_ACC_DIR;
	struct fts_model_fds *m = NULL;
	__u64 dev, ino;
	int slot;

	if (!w->job_id || !(access & FTS_ACC_READ) || (access & changes))
		return;
	if (!model__is_pickle(BPF_CORE_READ(f, f_path.dentry)))
		return;
	slot = model__track(w->tgid, task__start_ns(w->task), fd, &m);
	/* Every load is a window; only the first per process and file an event
	 * (a DataLoader re-opening .pt shards would flood the outputs), and a
	 * repeat is held until the process does something (model__flush). */
	dev = inode__dev(BPF_CORE_READ(f, f_inode));
	ino = BPF_CORE_READ(f, f_inode, i_ino);
	if (!seen__test(w->tgid, FTS_ACC_MODEL_SEEN, dev, ino)) {
		seen__set(w->tgid, FTS_ACC_MODEL_SEEN, dev, ino);
		if (m && slot >= 0 && slot < FTS_MODEL_FDS)
			m->held &= ~(1u << slot);
		model__send(w, f, fd, FTS_MODEL_OPEN, slot < 0 ? FTS_MODEL_CLOSE_UNSEEN : 0);
		return;
	}
	if (!m || slot < 0 || slot >= FTS_MODEL_FDS) { /* its close unseen: no holding it either */
		model__send(w, f, fd, FTS_MODEL_OPEN, FTS_MODEL_REPEAT | FTS_MODEL_CLOSE_UNSEEN);
		return;
	}
	m->dev[slot] = dev;
	m->ino[slot] = ino;
	m->opened_ns[slot] = bpf_ktime_get_boot_ns();
	m->held |= 1u << slot;
}

/* close(@fd) by the current task: the end of a load window if @fd is one
 * (a held window ends without a record: nothing happened in it). */
static __always_inline void model__close(long fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fts_model_fds *m = bpf_map_lookup_elem(&model_fds, &tgid);
	bool found = false, left = false, held = false;
	struct who w;

	if (!m)
		return;
#pragma unroll
	for (int i = 0; i < FTS_MODEL_FDS; i++) {
		if (m->fd[i] == fd && !found) {
			m->fd[i] = -1;
			found = true;
			held = m->held & (1u << i);
			m->held &= ~(1u << i);
		} else if (m->fd[i] >= 0) {
			left = true;
		}
	}
	if (!found)
		return;
	if (!left && !bpf_map_delete_elem(&model_fds, &tgid))
		__sync_fetch_and_sub(&fts_model_loaders, 1);
	if (!held && who__get(&w) && w.job_id)
		model__send(&w, NULL, fd, FTS_MODEL_CLOSE, 0);
}

/* The process @tgid exited: its load windows are over. */
static __always_inline void model__forget(__u32 tgid)
{
	if (fts_model_loaders && !bpf_map_delete_elem(&model_fds, &tgid))
		__sync_fetch_and_sub(&fts_model_loaders, 1);
}

#endif /* FTS_BPF_MODEL_H */
