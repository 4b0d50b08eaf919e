// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process sensor: exec, fork and exit of tasks in jobs.
 *
 * Job membership lives in the `tasks` map and is inherited here, at fork, in
 * the kernel: no child can escape between its fork and the daemon noticing.
 * tp_btf, not syscall tracepoints: these sched events fire once per process
 * change on every path (clone3, vfork, execveat, exit_group) and cost nothing
 * to tasks that do not fork or exec.
 */
#include "lib/maps.h"
#include "lib/path.h"
#include "lib/task.h"
#include "lib/model.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The job a task is in: its own membership @st, else the one its cgroup
 * defines (*by_cgroup set). False for neither. */
static __always_inline bool job__of(struct fts_task_state *st, __u64 cgroup_id, __u64 *job_id, __u32 *policy,
				    bool *by_cgroup)
{
	struct fts_cgroup_job *cj;

	*by_cgroup = false;
	if (st) {
		*job_id = st->job_id;
		*policy = st->policy;
		return true;
	}
	cj = bpf_map_lookup_elem(&job_cgroups, &cgroup_id);
	if (!cj)
		return false;
	*job_id = cj->job_id;
	*policy = cj->policy;
	*by_cgroup = true;
	return true;
}

/* A writer's child that has not exec'd runs the writer's code: it inherits
 * the record (see writer__note), under its own start. */
static __always_inline void writer__inherit(struct task_struct *parent, struct task_struct *child, __u32 tgid)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	struct fts_writer_exec *pw = bpf_map_lookup_elem(&writer_execs, &ptgid);
	struct fts_writer_exec w;

	/* in ticks: a record the daemon seeded from /proc has no finer start */
	if (!pw || pw->start_ns / FTS_NS_PER_TICK != task__start_ns(parent) / FTS_NS_PER_TICK)
		return;
	w = *pw;
	w.start_ns = BPF_CORE_READ(child, start_boottime);
	w.flags |= FTS_WRITER_FORKED;
	bpf_map_update_elem(&writer_execs, &tgid, &w, BPF_ANY);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fts_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = BPF_CORE_READ(child, tgid);
	struct fts_task_state *pst;
	struct fts_fork_event *e;
	__u64 job_id = 0, cgroup_id;
	__u32 policy = FTS_NO_POLICY;
	bool by_cgroup;

	if (BPF_CORE_READ(child, pid) != tgid)
		return 0; /* a new thread, not a new process */
	writer__inherit(parent, child, tgid);

	pst = task__tracked(BPF_CORE_READ(parent, tgid), task__start_ns(parent));
	cgroup_id = bpf_get_current_cgroup_id(); /* the child starts in its parent's cgroup */
	if (!job__of(pst, cgroup_id, &job_id, &policy, &by_cgroup))
		return 0;

	task__track(tgid, BPF_CORE_READ(child, start_boottime), job_id, policy);

	/* a child forked inside a load window inherits it (the daemon copies it) */
	model__flush(parent, BPF_CORE_READ(parent, tgid), job_id);
	e = event__reserve(sizeof(*e));
	if (!e)
		return 0;
	event__header(&e->hdr, FTS_EV_FORK, sizeof(*e), child, job_id, cgroup_id);
	/* the child is its own group leader; its start is its own */
	e->hdr.task.start_ns = BPF_CORE_READ(child, start_boottime);
	task__parent_id(child, &e->parent);
	e->flags = by_cgroup ? FTS_FORK_JOINED_BY_CGROUP : 0;
	e->_pad = 0;
	event__submit_lazy(e); /* the kernel tracks the child already */
	return 0;
}

struct basename_ctx {
	const char *s;
	__u32 max;
	__u32 last;
};

static long basename__step(__u32 i, struct basename_ctx *ctx)
{
	char c = 0;

	if (i >= ctx->max || bpf_probe_read_kernel(&c, 1, ctx->s + i) || !c)
		return 1;
	if (c == '/')
		ctx->last = i + 1;
	return 0;
}

/* The offset of the file name part of a NUL-terminated path. bpf_loop, not a
 * plain loop: the verifier would otherwise walk every value `last` can take. */
static __always_inline __u32 basename__offset(const char *s, __u32 max)
{
	struct basename_ctx ctx = { .s = s, .max = max, .last = 0 };

	bpf_loop(FTS_FILENAME_MAX, basename__step, &ctx, 0);
	return ctx.last & (FTS_FILENAME_MAX - 1);
}

/* Does this exec start a job? The launcher map is keyed by basename. */
static __always_inline __u32 launcher__match(const char *name)
{
	struct fts_launcher_key key = {};
	__u32 *policy;

	bpf_probe_read_kernel_str(key.name, sizeof(key.name), name);
	policy = bpf_map_lookup_elem(&launchers, &key);
	return policy ? *policy : FTS_NO_POLICY;
}

/* The environment scan: one env string per step, read into the upper half of
 * scratch (the record uses the lower half). glibc takes the *last* LD_PRELOAD
 * and every LD_AUDIT, so the scan runs to the end and keeps the last of each;
 * an environment it cannot finish is said so (FTS_EXEC_ENV_TRUNCATED). The
 * same pass keeps the run variables (enum fts_run_var): what the kernel saw
 * at exec is the task's run and rank, whatever it writes over its
 * environment later. */
#define FTS_ENV_CHUNK 512
#define FTS_ENV_STEPS 8192 /* chunks read; an ordinary environment needs < 100 */
#define FTS_LD_PRELO 0x4f4c4552505f444cULL /* "LD_PRELO", little-endian */
#define FTS_LD_AUDIT 0x54494455415f444cULL
/* Where in scratch the scan keeps the user address of the last "NAME=value"
 * of each run variable (enum fts_run_var), past the chunk it reads into: in a
 * map value, not the stack, so the copy loop indexes it by a bounded i. */
#define FTS_RUN_SLOTS (FTS_SCRATCH_SIZE / 2 + FTS_ENV_CHUNK)

struct env_scan {
	char *buf;
	__u64 p;
	__u64 end;
	__u64 preload; /* user address of the last LD_PRELOAD's value, 0 if none */
	__u64 audit;   /* the same for LD_AUDIT */
	bool mid;      /* p is inside a string longer than a chunk: no name here */
	bool done;     /* reached env_end */
};

/* Does the env string @tmp of @n bytes start with @lit ("NAME=", a literal)? */
#define env__is(tmp, n, lit) ((n) > (long)sizeof(lit) - 1 && env__prefix(tmp, lit, sizeof(lit) - 1))
static __always_inline bool env__prefix(const char *tmp, const char *lit, int len)
{
	char diff = 0;

	/* no early exit: the loop unrolls into straight compares of constants */
#pragma unroll
	for (int i = 0; i < len; i++)
		diff |= tmp[i] ^ lit[i];
	return !diff;
}

/* Which run variable @tmp sets (enum fts_run_var): its address is kept. The
 * first byte sorts out nearly every other variable at one compare. */
static __always_inline void env__run_var(struct env_scan *s, const char *tmp, long n)
{
	__u64 *run = (__u64 *)(s->buf + FTS_RUN_SLOTS);

	switch (tmp[0]) {
	case 'S':
		if (env__is(tmp, n, "SLURM_JOB_ID="))
			run[FTS_RUN_SLURM_JOB_ID] = s->p;
		else if (env__is(tmp, n, "SLURM_CLUSTER_NAME="))
			run[FTS_RUN_SLURM_CLUSTER_NAME] = s->p;
		else if (env__is(tmp, n, "SLURM_PROCID="))
			run[FTS_RUN_SLURM_PROCID] = s->p;
		break;
	case 'T':
		if (env__is(tmp, n, "TORCHELASTIC_RUN_ID="))
			run[FTS_RUN_TORCHELASTIC_RUN_ID] = s->p;
		else if (env__is(tmp, n, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="))
			run[FTS_RUN_TORCH_NO_WEIGHTS_ONLY] = s->p;
		break;
	case 'R':
		if (env__is(tmp, n, "RANK="))
			run[FTS_RUN_RANK] = s->p;
		break;
	case 'L':
		if (env__is(tmp, n, "LOCAL_RANK="))
			run[FTS_RUN_LOCAL_RANK] = s->p;
		break;
	case 'W':
		if (env__is(tmp, n, "WORLD_SIZE="))
			run[FTS_RUN_WORLD_SIZE] = s->p;
		break;
	case 'M':
		if (env__is(tmp, n, "MASTER_ADDR="))
			run[FTS_RUN_MASTER_ADDR] = s->p;
		else if (env__is(tmp, n, "MASTER_PORT="))
			run[FTS_RUN_MASTER_PORT] = s->p;
		break;
	case 'H':
		if (env__is(tmp, n, "HOME="))
			run[FTS_RUN_HOME] = s->p;
		else if (env__is(tmp, n, "HF_HOME="))
			run[FTS_RUN_HF_HOME] = s->p;
		else if (env__is(tmp, n, "HF_MODULES_CACHE="))
			run[FTS_RUN_HF_MODULES_CACHE] = s->p;
		break;
	}
}

/* Which loader or run variable @tmp (an env string of @n bytes with its NUL) sets. */
static __always_inline void env__match(struct env_scan *s, const char *tmp, long n)
{
	__u64 head = *(__u64 *)tmp;

	if (n > 11 && head == FTS_LD_PRELO && tmp[8] == 'A' && tmp[9] == 'D' && tmp[10] == '=')
		s->preload = s->p + 11;
	else if (n > 9 && head == FTS_LD_AUDIT && tmp[8] == '=')
		s->audit = s->p + 9;
	else
		env__run_var(s, tmp, n);
}

static long env__step(__u32 i, struct env_scan *s)
{
	char *tmp = s->buf + FTS_SCRATCH_SIZE / 2;
	long n;

	if (s->p >= s->end) {
		s->done = true;
		return 1;
	}
	n = bpf_probe_read_user_str(tmp, FTS_ENV_CHUNK, (void *)s->p);
	if (n <= 0)
		return 1; /* unreadable: not done, so reported as cut short */
	if (!s->mid)
		env__match(s, tmp, n);
	if (n == FTS_ENV_CHUNK) {
		s->p += n - 1;
		s->mid = true;
	} else {
		s->p += n;
		s->mid = false;
	}
	return 0;
}

/* The loader variables in the new image's environment (the stack exec just
 * built). Only job tasks pay for the scan. */
static __always_inline void env__scan(struct task_struct *task, char *buf, struct env_scan *s)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 *run = (__u64 *)(buf + FTS_RUN_SLOTS);

#pragma unroll
	for (int i = 0; i < FTS_RUN_VARS; i++)
		run[i] = 0; /* scratch holds the last exec's */
	s->buf = buf;
	s->p = BPF_CORE_READ(mm, env_start);
	s->end = BPF_CORE_READ(mm, env_end);
	bpf_loop(FTS_ENV_STEPS, env__step, s, 0);
}

/* An exec of a file named like an approved writer: what the kernel ran
 * (dev/inode) and whether the loader environment was clean, for the daemon
 * to judge the writer by. Any other exec drops what the task ran before: a
 * record outlives its exec only for the daemon to read after the exit. */
static __always_inline void writer__note(struct task_struct *task, struct linux_binprm *bprm, __u32 tgid,
					 __u64 start_ns, char *buf)
{
	struct fts_launcher_key key = {};
	struct fts_writer_exec w = {};
	struct env_scan s = {};
	struct inode *inode;

	bpf_probe_read_kernel_str(key.name, sizeof(key.name), BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name));
	if (!bpf_map_lookup_elem(&writer_names, &key)) {
		bpf_map_delete_elem(&writer_execs, &tgid);
		return;
	}
	inode = BPF_CORE_READ(bprm, file, f_inode);
	w.start_ns = start_ns;
	w.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	w.ino = BPF_CORE_READ(inode, i_ino);
	env__scan(task, buf, &s);
	if (s.done && !s.preload && !s.audit)
		w.flags = FTS_WRITER_CLEAN;
	bpf_map_update_elem(&writer_execs, &tgid, &w, BPF_ANY);
}

/* Where the exec record's variable parts start in scratch. */
struct exec_layout {
	__u32 off;       /* end of what is written so far */
	__u32 exe_off;
	__u32 fname_off;
};

/* The exe, the cwd and the file name as the caller gave it, after the fixed
 * part: the exe's leaf and the file name decide the launcher match. */
static __always_inline void exec__paths(struct fts_exec_event *e, char *buf, struct task_struct *task,
					struct linux_binprm *bprm, struct exec_layout *l, __u32 *flags)
{
	__u32 pflags;
	long len;

	l->off = sizeof(*e);
	l->exe_off = l->off;
	e->exe_len = path__encode(&bprm->file->f_path, buf, l->off, &e->exe_depth, &pflags);
	*flags |= pflags;
	l->off += e->exe_len;

	e->cwd_len = path__encode(&task->fs->pwd, buf, l->off, &e->cwd_depth, &pflags);
	*flags |= pflags << FTS_PATH_FLAG_BITS;
	l->off += e->cwd_len;

	l->fname_off = l->off;
	len = bpf_probe_read_kernel_str(buf + (l->off & FTS_SCRATCH_MASK), FTS_FILENAME_MAX,
					BPF_CORE_READ(bprm, filename));
	e->filename_len = len > 0 ? len : 0;
	l->off += e->filename_len;
}

/* A launcher by the name it was run as (scripts: torchrun), else by its binary. */
static __always_inline __u32 exec__launcher(const struct fts_exec_event *e, const char *buf,
					    const struct exec_layout *l)
{
	__u32 b = basename__offset(buf + (l->fname_off & FTS_SCRATCH_MASK), e->filename_len);
	__u32 policy = launcher__match(buf + ((l->fname_off + b) & FTS_SCRATCH_MASK));

	if (policy == FTS_NO_POLICY && e->exe_depth)
		policy = launcher__match(buf + (l->exe_off & FTS_SCRATCH_MASK));
	return policy;
}

/* The exec's job: the process's own, its cgroup's, or a new one it starts as
 * a launcher. False when nobody needs the record (untracked: one lookup). */
static __always_inline bool exec__job(__u32 tgid, __u64 start_ns, __u64 cgroup_id, const struct fts_exec_event *e,
				      const char *buf, const struct exec_layout *l, __u64 *job_id, __u32 *policy,
				      __u32 *flags)
{
	struct fts_settings *set;
	bool by_cgroup;

	if (job__of(task__tracked(tgid, start_ns), cgroup_id, job_id, policy, &by_cgroup)) {
		if (by_cgroup) {
			*flags |= FTS_EXEC_JOINED_BY_CGROUP;
			task__track(tgid, start_ns, *job_id, *policy);
		}
		return true;
	}
	*policy = exec__launcher(e, buf, l);
	if (*policy != FTS_NO_POLICY) {
		*job_id = fts_job_id(tgid, start_ns);
		*flags |= FTS_EXEC_JOB_STARTED;
		task__track(tgid, start_ns, *job_id, *policy);
		return true;
	}
	set = settings__get();
	return set && (set->flags & FTS_SET_REPORT_ALL_EXEC);
}

/* argv, as the new image's stack holds it. Returns the new end. */
static __always_inline __u32 exec__args(struct fts_exec_event *e, char *buf, struct task_struct *task, __u32 off,
					__u32 *flags)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 arg_start = BPF_CORE_READ(mm, arg_start);
	__u64 arg_end = BPF_CORE_READ(mm, arg_end);
	__u64 n = arg_end > arg_start ? arg_end - arg_start : 0;

	if (n > FTS_ARGS_MAX) {
		n = FTS_ARGS_MAX;
		*flags |= FTS_EXEC_ARGS_TRUNCATED;
	}
	n &= (FTS_ARGS_MAX << 1) - 1;
	if (n && bpf_probe_read_user(buf + (off & FTS_SCRATCH_MASK), n, (void *)arg_start))
		n = 0;
	e->args_len = n;
	return off + n;
}

/* One loader variable's value at @value into the record at @off: its length,
 * 0 when absent or empty. @trunc is set when it was cut at FTS_PRELOAD_MAX. */
static __always_inline __u16 exec__env_value(char *buf, __u32 off, __u64 value, __u32 *flags, __u32 trunc)
{
	long n;

	if (!value)
		return 0;
	n = bpf_probe_read_user_str(buf + (off & FTS_SCRATCH_MASK), FTS_PRELOAD_MAX, (void *)value);
	if (n <= 1)
		return 0;
	if (n == FTS_PRELOAD_MAX)
		*flags |= trunc;
	return n;
}

struct run_env_copy {
	char *buf;
	__u32 off;   /* where the next one goes */
	__u32 flags;
};

static long run_env__step(__u32 i, struct run_env_copy *c)
{
	__u64 addr;
	long n;

	if (i >= FTS_RUN_VARS)
		return 1;
	addr = *(__u64 *)(c->buf + FTS_RUN_SLOTS + i * sizeof(__u64));
	if (!addr)
		return 0;
	n = bpf_probe_read_user_str(c->buf + (c->off & FTS_SCRATCH_MASK), FTS_RUN_ENV_MAX, (void *)addr);
	if (n <= 0)
		return 0;
	if (n == FTS_RUN_ENV_MAX)
		c->flags |= FTS_EXEC_RUN_ENV_TRUNCATED;
	c->off += n;
	return 0;
}

/* The run variables the scan found, each "NAME=value\0", after the loader
 * variables. bpf_loop, not an unrolled loop: nine optional copies would
 * multiply the verifier's paths. Returns the new end. */
static __always_inline __u32 exec__run_env(struct fts_exec_event *e, char *buf, __u32 off, __u32 *flags)
{
	struct run_env_copy c = { .buf = buf, .off = off, .flags = 0 };

	bpf_loop(FTS_RUN_VARS, run_env__step, &c, 0);
	*flags |= c.flags;
	e->run_env_len = c.off - off;
	if (e->run_env_len)
		*flags |= FTS_EXEC_RUN_ENV;
	return off + e->run_env_len;
}

/* LD_PRELOAD and LD_AUDIT of a job task: libraries injected into every
 * process it runs; then its run variables. Returns the new end. */
static __always_inline __u32 exec__loader_env(struct fts_exec_event *e, char *buf, struct task_struct *task,
					      __u32 off, __u32 *flags)
{
	struct env_scan s = {};

	env__scan(task, buf, &s);
	if (!s.done)
		*flags |= FTS_EXEC_ENV_TRUNCATED;
	e->preload_len = exec__env_value(buf, off, s.preload, flags, FTS_EXEC_PRELOAD_TRUNCATED);
	if (e->preload_len)
		*flags |= FTS_EXEC_PRELOAD;
	off += e->preload_len;
	e->audit_len = exec__env_value(buf, off, s.audit, flags, FTS_EXEC_AUDIT_TRUNCATED);
	if (e->audit_len)
		*flags |= FTS_EXEC_AUDIT;
	off += e->audit_len;
	return exec__run_env(e, buf, off, flags);
}

/* The untracked fast path of exec: nobody needs the record of a process that
 * is in no job (by membership or cgroup), starts none (neither the name it
 * was run as nor its binary's is a launcher) and is not reported anyway. The
 * same answers as exec__job, from lookups and the two leaf names, before the
 * paths are encoded (most of an exec's cost here: tests/bench --bpf-stats). */
static __always_inline bool exec__may_matter(struct linux_binprm *bprm, __u32 tgid, __u64 cgroup_id, char *buf)
{
	struct fts_settings *set = settings__get();
	char *name = buf + FTS_SCRATCH_SIZE / 2;
	long n;

	if ((set && (set->flags & FTS_SET_REPORT_ALL_EXEC)) || bpf_map_lookup_elem(&tasks, &tgid) ||
	    bpf_map_lookup_elem(&job_cgroups, &cgroup_id))
		return true;
	n = bpf_probe_read_kernel_str(name, FTS_FILENAME_MAX, bprm->filename);
	if (n > 0 && launcher__match(name + basename__offset(name, n)) != FTS_NO_POLICY)
		return true;
	return launcher__match((const char *)bprm->file->f_path.dentry->d_name.name) != FTS_NO_POLICY;
}

/* How an exec record wakes the daemon (bpf_ringbuf_output's flags). One that
 * starts or joins a job wakes it: it registers the job before the job's
 * children act. One by a process already in a job does not: the record
 * carries what the daemon needs, and waking it for each was most of a job's
 * fork/exec cost (an interrupt and a daemon context switch per exec; tests/
 * bench "fork/exec, job"); it is read at the next drain, FTS_RING_POLL_MS at
 * most, or with the next record that wakes it. A global function, verified
 * once: a branch at the end of the exec program doubles its paths. */
__noinline __u64 exec__ring_flags(__u64 job_id, __u32 flags)
{
	if (!job_id || (flags & (FTS_EXEC_JOB_STARTED | FTS_EXEC_JOINED_BY_CGROUP)))
		return ring__wakeup();
	return ring__lazy();
}

/* Reserve-fill-submit, with the record built in scratch (it outgrows the
 * stack): paths, job, argv, loader variables, then the fixed part. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(fts_sched_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u64 start_ns = task__start_ns(task);
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	struct fts_exec_event *e;
	struct exec_layout l;
	__u64 job_id = 0;
	__u32 policy = FTS_NO_POLICY, flags = 0;
	char *buf;

	if (task__is_daemon(tgid))
		return 0;
	buf = scratch__get();
	if (!buf)
		return 0;
	writer__note(task, bprm, tgid, start_ns, buf); /* every exec: writers are outside jobs */
	if (!exec__may_matter(bprm, tgid, cgroup_id, buf))
		return 0;
	e = (void *)buf;
	exec__paths(e, buf, task, bprm, &l, &flags);
	if (!exec__job(tgid, start_ns, cgroup_id, e, buf, &l, &job_id, &policy, &flags))
		return 0;
	l.off = exec__args(e, buf, task, l.off, &flags);
	e->preload_len = e->audit_len = 0;
	e->run_env_len = e->_pad2 = 0;
	if (job_id)
		l.off = exec__loader_env(e, buf, task, l.off, &flags);

	event__header(&e->hdr, FTS_EV_EXEC, l.off, task, job_id, cgroup_id);
	task__parent_id(task, &e->parent);
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	e->gid = BPF_CORE_READ(task, cred, gid.val);
	e->euid = BPF_CORE_READ(task, cred, euid.val);
	e->egid = BPF_CORE_READ(task, cred, egid.val);
	e->flags = flags;
	e->policy = policy;
	e->argc = BPF_CORE_READ(bprm, argc);
	model__flush(task, tgid, job_id); /* an exec inside a held load window */
	/* woken or not: exec__ring_flags */
	event__sent(bpf_ringbuf_output(&events, buf, l.off & FTS_SCRATCH_MASK, exec__ring_flags(job_id, flags)));
	return 0;
}

/* A process outside every job keeps its executable's path in exited_exes at
 * exit (the tracepoint fires before exit_mm on this kernel: the mm is there).
 * What fanotify reports of it is read later; by then /proc has no exe. */
static __always_inline void exit__keep_exe(struct task_struct *task, __u32 tgid, __u64 start_ns)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct fts_exited_exe *x;
	__u32 pflags;
	char *buf;

	if (!exe || task__is_daemon(tgid))
		return;
	buf = scratch__get();
	if (!buf)
		return;
	x = (struct fts_exited_exe *)buf;
	x->start_ns = start_ns;
	x->path_len = path__encode(&exe->f_path, buf, sizeof(*x) - FTS_EXITED_EXE_MAX, &x->path_depth, &pflags);
	x->path_flags = pflags;
	if (x->path_len > FTS_EXITED_EXE_MAX)
		return;
	bpf_map_update_elem(&exited_exes, &tgid, x, BPF_ANY);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(fts_sched_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct fts_task_state *st;
	struct fts_exit_event *e;
	__u64 start_ns;
	__u64 job_id;

	/* A process exits with its last thread; signal->live is already decremented. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	model__forget(tgid);
	start_ns = task__start_ns(task);
	st = task__tracked(tgid, start_ns);
	if (!st) {
		exit__keep_exe(task, tgid, start_ns);
		return 0;
	}
	job_id = st->job_id;
	bpf_map_delete_elem(&tasks, &tgid);

	e = event__reserve(sizeof(*e));
	if (!e)
		return 0;
	event__header(&e->hdr, FTS_EV_EXIT, sizeof(*e), task, job_id, bpf_get_current_cgroup_id());
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->_pad = 0;
	event__submit_lazy(e);
	return 0;
}
