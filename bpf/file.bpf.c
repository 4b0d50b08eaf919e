// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File sensor: opens and changes, read at syscall exit from the kernel's
 * objects (the new fd's struct file), classified by inode ancestry against
 * the `watched` map, filtered here:
 *   - job processes: every open outside the base list, once per process,
 *     file and access; their namespace changes (rename, link, unlink, …);
 *   - everyone else: writes under protected/outputs and reads of sensitive.
 * Per-syscall tracepoints, not one sys_exit dispatcher: the program runs only
 * for these syscalls (tests/bench measures what either costs the rest).
 * Namespace changes by processes outside jobs are the fanotify backstop's
 * job (daemon/fanotify), which sees the VFS objects these hooks cannot;
 * except a rename or link onto /etc/ld.so.preload, reported here for everyone.
 * A /proc/PID/mem open of a job process is an access record (lib/access.h).
 */
#include "lib/access.h"
#include "lib/device.h"
#include "lib/file.h"
#include "lib/model.h"

/* A kernel pointer read as a value, typed again as a read-only BTF pointer
 * (a fault reads 0): its fields are then direct loads, not one
 * bpf_probe_read_kernel call each. Declared here only: bpftool's static
 * linker cannot merge one kfunc declared by two objects. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline struct file *file__typed(struct file *f)
{
	return f ? bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file)) : NULL;
}

/* Encode the caller's path string, then (for a relative one) the canonical
 * path of the directory it is relative to. Returns bytes written. */
static __always_inline __u32 upath__encode(struct task_struct *task, long dfd, const char *upath, char *buf,
					   __u32 off, __u16 *depth)
{
	long n = bpf_probe_read_user_str(buf + (off & FTS_SCRATCH_MASK), FTS_PATH_MAX, upath);
	char first = 0;
	__u32 pflags = 0;
	__u16 base_depth = 0;
	__u32 base_len;

	if (n <= 0) {
		*depth = 0;
		return 0;
	}
	*depth = 1;
	bpf_probe_read_kernel(&first, 1, buf + (off & FTS_SCRATCH_MASK));
	if (first == '/')
		return n;
	if (dfd == AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);
		base_len = path__encode(&fs->pwd, buf, off + n, &base_depth, &pflags);
	} else {
		struct file *f = fd__file(task, dfd);
		if (!f)
			return n;
		base_len = path__encode(&f->f_path, buf, off + n, &base_depth, &pflags);
	}
	*depth += base_depth;
	return (n + base_len) & (2 * FTS_PATH_MAX - 1);
}

static __always_inline struct fts_file_event *file_event__begin(void)
{
	struct fts_file_event *e = scratch__get();

	if (!e)
		return NULL;
	e->dev = 0;
	e->ino = 0;
	e->mnt_id = 0;
	e->open_flags = 0;
	e->classes = 0;
	e->watch_id = ~0u;
	e->match_depth = 0;
	e->flags = 0;
	e->path_len = e->path_depth = 0;
	e->path2_len = e->path2_depth = 0;
	e->exe_len = e->exe_depth = 0;
	return e;
}

static __always_inline void file_event__send(struct fts_file_event *e, struct who *w, __u32 op, long result)
{
	__u32 size;

	/* Outside jobs the daemon never saw this task's exec: name its binary. */
	if (!w->job_id) {
		struct task_struct *task = w->task;
		struct file *exe = BPF_CORE_READ(task, mm, exe_file);
		__u32 pflags = 0;

		if (exe)
			e->exe_len = path__encode(&exe->f_path, (char *)e, sizeof(*e) + e->path_len + e->path2_len,
						  &e->exe_depth, &pflags);
	}
	size = sizeof(*e) + e->path_len + e->path2_len + e->exe_len;

	e->op = op;
	e->result = result;
	event__header(&e->hdr, FTS_EV_FILE, size, w->task, w->job_id, bpf_get_current_cgroup_id());
	model__flush(w->task, w->tgid, w->job_id); /* a file record inside a held load window */
	event__output(e, size & FTS_SCRATCH_MASK);
}

/* A record about a kernel file object. */
static __always_inline void file__report(struct who *w, struct file *f, __u32 op, __u32 access, __u32 oflags,
					 long result, struct file_class *cls)
{
	struct fts_file_event *e = file_event__begin();
	struct vfsmount *vfsmnt = BPF_CORE_READ(f, f_path.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 pflags = 0;

	if (!e)
		return;
	e->dev = inode__dev(BPF_CORE_READ(f, f_inode));
	e->ino = BPF_CORE_READ(f, f_inode, i_ino);
	e->mnt_id = BPF_CORE_READ(mnt, mnt_id);
	e->open_flags = oflags;
	e->access = access;
	e->classes = cls->classes;
	e->watch_id = cls->id;
	e->match_depth = cls->depth;
	e->path_len = path__encode(&f->f_path, (char *)e, sizeof(*e), &e->path_depth, &pflags);
	e->flags = pflags | (cls->by_name ? FTS_FILE_MATCHED_BY_NAME : 0);
	file_event__send(e, w, op, result);
}

static __always_inline __u32 access__of(struct file *f, __u32 oflags)
{
	__u32 mode = f->f_mode;
	__u32 acc = 0;

	if (mode & FMODE_READ)
		acc |= FTS_ACC_READ;
	if (mode & FMODE_WRITE)
		acc |= FTS_ACC_WRITE;
	if (oflags & O_CREAT)
		acc |= FTS_ACC_CREAT;
	if (oflags & O_TRUNC)
		acc |= FTS_ACC_TRUNC;
	if (oflags & O_APPEND)
		acc |= FTS_ACC_APPEND;
	if (acc && (f->f_inode->i_mode & 0170000) == 0040000 /* S_IFDIR */)
		acc |= FTS_ACC_DIR;
	return acc;
}

#define FTS_ACC_CHANGES (FTS_ACC_WRITE | FTS_ACC_CREAT | FTS_ACC_TRUNC | FTS_ACC_APPEND)

/* An fd-based access or change: report it if the filter says so. */
static __always_inline int file__maybe_report(struct who *w, struct file *f, __u32 op, __u32 access, __u32 oflags,
					      long result)
{
	struct dentry *dentry = f->f_path.dentry;
	__u64 dev = f->f_inode->i_sb->s_dev;
	struct file_class cls = {};

	if (w->job_id) {
		__u64 ino = f->f_inode->i_ino;

		/* A repeated open costs one lookup: the walk below runs once per
		 * process, file and access. */
		if (op == FTS_FILE_OPEN && seen__test(w->tgid, access, dev, ino))
			return 0;
		dentry__classify(dentry, dev, &cls);
		if (op == FTS_FILE_OPEN)
			seen__set(w->tgid, access, dev, ino);
		if (!(access & FTS_ACC_CHANGES) && op == FTS_FILE_OPEN && (cls.classes & FTS_CLASS_BASE) &&
		    !(cls.classes & ~FTS_CLASS_BASE))
			return 0; /* a base-list read */
	} else if (access & FTS_ACC_CHANGES) {
		dentry__classify(dentry, dev, &cls);
		if (!(cls.classes & (FTS_CLASS_PROTECTED | FTS_CLASS_OUTPUTS | FTS_CLASS_PRELOAD)))
			return 0;
	} else {
		if (!(dentry__own_classes(dentry, dev) & FTS_CLASS_SENSITIVE))
			return 0;
		dentry__classify(dentry, dev, &cls);
	}
	file__report(w, f, op, access, oflags, result, &cls);
	return 0;
}

/* A failed open by a job process: a denied read of a credential is a signal.
 * The file was never opened, so the caller's string is all there is. */
static __always_inline void open__failed(struct who *w, long dfd, const char *upath, __u32 oflags, long ret)
{
	struct fts_file_event *e;

	if (!w->job_id || (ret != -EACCES && ret != -EPERM))
		return;
	e = file_event__begin();
	if (!e)
		return;
	e->open_flags = oflags;
	e->access = (oflags & O_ACCMODE) == O_WRONLY ? FTS_ACC_WRITE
		    : (oflags & O_ACCMODE) == O_RDWR ? (FTS_ACC_READ | FTS_ACC_WRITE) : FTS_ACC_READ;
	e->flags = FTS_FILE_PATH_FROM_USER;
	e->path_len = upath__encode(w->task, dfd, upath, (char *)e, sizeof(*e), &e->path_depth);
	file_event__send(e, w, FTS_FILE_OPEN, ret);
}

static __always_inline int open__exit(long ret, long dfd, const char *upath, __u32 oflags)
{
	struct who w;
	struct file *f;

	if (!who__get(&w))
		return 0;
	if (ret < 0) {
		open__failed(&w, dfd, upath, oflags, ret);
		return 0;
	}
	f = file__typed(fd__file(w.task, ret));
	if (!f)
		return 0;
	__u32 access = access__of(f, oflags);
	if (!access)
		return 0; /* O_PATH: a handle, no data read or written */
	proc_mem__check(w.task, w.tgid, w.job_id, f, oflags, ret);
	if (w.job_id) {
		device__open(&w, f, access, ret); /* GPU and RDMA devices (lib/device.h) */
		model__open(&w, f, access, ret);  /* load windows of pickle-based model files (lib/model.h) */
	}
	return file__maybe_report(&w, f, FTS_FILE_OPEN, access, oflags, ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int fts_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return open__exit(ctx->ret, (int)a.a[0], (const char *)a.a[1], a.a[2]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int fts_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return open__exit(ctx->ret, AT_FDCWD, (const char *)a.a[0], a.a[1]);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int fts_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return open__exit(ctx->ret, AT_FDCWD, (const char *)a.a[0], O_CREAT | O_WRONLY | O_TRUNC);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int fts_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;
	__u64 flags = 0;

	sys_args__read(bpf_get_current_task_btf(), &a);
	bpf_probe_read_user(&flags, sizeof(flags), (void *)a.a[2]); /* struct open_how.flags */
	return open__exit(ctx->ret, (int)a.a[0], (const char *)a.a[1], flags);
}

SEC("tracepoint/syscalls/sys_exit_open_by_handle_at")
int fts_exit_open_by_handle_at(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return open__exit(ctx->ret, AT_FDCWD, NULL, a.a[2]); /* no name: the handle is opaque */
}

/* The end of a load window (lib/model.h); every other close stops at one load. */
SEC("tracepoint/syscalls/sys_enter_close")
int fts_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	if (!fts_model_loaders)
		return 0;
	model__close(ctx->args[0]);
	return 0;
}

/* fd-based changes: ftruncate, fchmod, fchown */
static __always_inline int fd_change__exit(long ret, long fd, __u32 op, __u32 access)
{
	struct who w;
	struct file *f;

	if (ret < 0 || !who__get(&w))
		return 0;
	f = file__typed(fd__file(w.task, fd));
	if (!f)
		return 0;
	return file__maybe_report(&w, f, op, access, 0, ret);
}

SEC("tracepoint/syscalls/sys_exit_ftruncate")
int fts_exit_ftruncate(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return fd_change__exit(ctx->ret, (int)a.a[0], FTS_FILE_TRUNCATE, FTS_ACC_WRITE | FTS_ACC_TRUNC);
}

SEC("tracepoint/syscalls/sys_exit_fchmod")
int fts_exit_fchmod(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return fd_change__exit(ctx->ret, (int)a.a[0], FTS_FILE_CHMOD, FTS_ACC_WRITE);
}

SEC("tracepoint/syscalls/sys_exit_fchown")
int fts_exit_fchown(struct trace_event_raw_sys_exit *ctx)
{
	struct sys_args a;

	sys_args__read(bpf_get_current_task_btf(), &a);
	return fd_change__exit(ctx->ret, (int)a.a[0], FTS_FILE_CHOWN, FTS_ACC_WRITE);
}

/*
 * Path-based changes by job processes. The name is gone (unlink), new
 * (mkdir) or both (rename) at exit, and no tracepoint hands us the dentry, so
 * the record carries the caller's strings under the kernel's path of the
 * directory they are relative to; the fanotify backstop reports the same
 * changes from the VFS for protected trees, for every process.
 */
struct leaf_scan {
	const char *s;
	__u32 leaf;
};

static long leaf__step(__u32 i, struct leaf_scan *ctx)
{
	char c = 0;

	if (bpf_probe_read_kernel(&c, 1, ctx->s + i) || !c)
		return 1;
	if (c == '/')
		ctx->leaf = i + 1;
	return 0;
}

/* Does the caller's new name end in a name watched for everyone (the loader's
 * preload list)? Read into the upper half of scratch, which the record (lower
 * half) never reaches. Paths are short: the scan stops at the NUL. */
static __always_inline bool upath__watched_for_all(const char *upath)
{
	char *buf = scratch__get();
	struct leaf_scan ctx;
	struct fts_name_key nk = {};
	struct fts_watch *v;
	char *tmp;

	if (!buf)
		return false;
	tmp = buf + FTS_SCRATCH_SIZE / 2;
	if (bpf_probe_read_user_str(tmp, FTS_PATH_MAX, upath) <= 0)
		return false;
	ctx.s = tmp;
	ctx.leaf = 0;
	bpf_loop(FTS_PATH_MAX, leaf__step, &ctx, 0);
	bpf_probe_read_kernel_str(nk.name, sizeof(nk.name), tmp + (ctx.leaf & (FTS_PATH_MAX - 1)));
	v = bpf_map_lookup_elem(&watched_names, &nk);
	return v && (v->classes & FTS_CLASS_PRELOAD);
}

static __always_inline int path_change__exit(long ret, __u32 op, long dfd1, const char *p1, long dfd2,
					     const char *p2, bool raw1)
{
	struct fts_file_event *e;
	struct who w;

	if (ret < 0 || !who__get(&w))
		return 0;
	/* Outside jobs, only a rename or link onto the loader's preload list
	 * (the rest is the fanotify backstop's, for protected trees). */
	if (!w.job_id && !(p2 && (op == FTS_FILE_RENAME || op == FTS_FILE_LINK || op == FTS_FILE_SYMLINK) &&
			   upath__watched_for_all(p2)))
		return 0;
	e = file_event__begin();
	if (!e)
		return 0;
	e->access = FTS_ACC_WRITE;
	e->flags = FTS_FILE_PATH_FROM_USER | (raw1 ? FTS_FILE_PATH_RAW : 0);
	if (raw1) {
		long n = bpf_probe_read_user_str((char *)e + sizeof(*e), FTS_PATH_MAX, p1);
		e->path_len = n > 0 ? n : 0;
		e->path_depth = 1;
	} else {
		e->path_len = upath__encode(w.task, dfd1, p1, (char *)e, sizeof(*e), &e->path_depth);
	}
	if (p2) {
		e->flags |= FTS_FILE_PATH2_FROM_USER;
		e->path2_len = upath__encode(w.task, dfd2, p2, (char *)e, sizeof(*e) + e->path_len, &e->path2_depth);
	}
	file_event__send(e, &w, op, ret);
	return 0;
}

#define ARGS() \
	struct sys_args a; \
	sys_args__read(bpf_get_current_task_btf(), &a)

SEC("tracepoint/syscalls/sys_exit_truncate")
int fts_exit_truncate(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_TRUNCATE, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int fts_exit_unlink(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_UNLINK, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int fts_exit_unlinkat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	__u32 op = (a.a[2] & 0x200 /* AT_REMOVEDIR */) ? FTS_FILE_RMDIR : FTS_FILE_UNLINK;
	return path_change__exit(ctx->ret, op, (int)a.a[0], (void *)a.a[1], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int fts_exit_rmdir(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_RMDIR, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_mkdir")
int fts_exit_mkdir(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_MKDIR, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_mkdirat")
int fts_exit_mkdirat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_MKDIR, (int)a.a[0], (void *)a.a[1], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_rename")
int fts_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_RENAME, AT_FDCWD, (void *)a.a[0], AT_FDCWD, (void *)a.a[1], false);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int fts_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_RENAME, (int)a.a[0], (void *)a.a[1], (int)a.a[2], (void *)a.a[3],
				 false);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int fts_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_RENAME, (int)a.a[0], (void *)a.a[1], (int)a.a[2], (void *)a.a[3],
				 false);
}

SEC("tracepoint/syscalls/sys_exit_link")
int fts_exit_link(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_LINK, AT_FDCWD, (void *)a.a[0], AT_FDCWD, (void *)a.a[1], false);
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int fts_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_LINK, (int)a.a[0], (void *)a.a[1], (int)a.a[2], (void *)a.a[3],
				 false);
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int fts_exit_symlink(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_SYMLINK, AT_FDCWD, (void *)a.a[0], AT_FDCWD, (void *)a.a[1], true);
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int fts_exit_symlinkat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_SYMLINK, AT_FDCWD, (void *)a.a[0], (int)a.a[1], (void *)a.a[2], true);
}

SEC("tracepoint/syscalls/sys_exit_chmod")
int fts_exit_chmod(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_CHMOD, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_fchmodat")
int fts_exit_fchmodat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_CHMOD, (int)a.a[0], (void *)a.a[1], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_chown")
int fts_exit_chown(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_CHOWN, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_lchown")
int fts_exit_lchown(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_CHOWN, AT_FDCWD, (void *)a.a[0], 0, NULL, false);
}

SEC("tracepoint/syscalls/sys_exit_fchownat")
int fts_exit_fchownat(struct trace_event_raw_sys_exit *ctx)
{
	ARGS();
	return path_change__exit(ctx->ret, FTS_FILE_CHOWN, (int)a.a[0], (void *)a.a[1], 0, NULL, false);
}
