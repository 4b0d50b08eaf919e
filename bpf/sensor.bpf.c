// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sensor watching itself: signals sent to the daemon by other processes,
 * and another process taking an fd to one of the daemon's maps, programs or
 * links (by pin or by id) or detaching or replacing one of its links.
 */
#include "lib/file.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FTS_SI_KERNEL 0x80
#define FTS_SEND_SIG_PRIV ((void *)1)

/* One record about the sensor itself, done by @task. @name: the object's
 * name (a kernel or stack copy), or NULL. */
static __always_inline void sensor__report(struct task_struct *task, __u32 op, __u32 arg, long result, int code,
					   const char *name)
{
	struct fts_sensor_event *e = event__reserve(sizeof(*e));
	struct fts_task_state *st;

	if (!e)
		return;
	/* A job's process doing it: the alert names the job. */
	st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	event__header(&e->hdr, FTS_EV_SENSOR, sizeof(*e), task, st ? st->job_id : 0, bpf_get_current_cgroup_id());
	e->op = op;
	e->arg = arg;
	e->result = result;
	e->code = code;
	e->target = fts_daemon_tgid;
	e->_pad = 0;
	__builtin_memset(e->name, 0, sizeof(e->name));
	if (name)
		bpf_probe_read_kernel_str(e->name, sizeof(e->name), name);
	event__submit(e);
}

/* tp_btf, not a syscall tracepoint: one place for kill, tgkill, pidfd_send_signal,
 * rt_sigqueueinfo alike. Every signal on the host passes here; all but the
 * daemon's cost a compare with a constant. */
SEC("tp_btf/signal_generate")
int BPF_PROG(fts_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	struct task_struct *cur;
	__u32 target;
	int code = 0; /* SEND_SIG_NOINFO: SI_USER */

	target = BPF_CORE_READ(task, tgid);
	if (!task__is_daemon(target))
		return 0;
	cur = bpf_get_current_task_btf();
	if (BPF_CORE_READ(cur, tgid) == target)
		return 0; /* its own (timers, raise) */
	if ((void *)info == FTS_SEND_SIG_PRIV)
		code = FTS_SI_KERNEL;
	else if (info)
		code = BPF_CORE_READ(info, si_code);
	if (code > 0)
		return 0; /* the kernel's own (SIGCHLD of a child, SIGPIPE, faults): nobody sent it */
	sensor__report(cur, FTS_SENSOR_SIGNAL, sig, result, code, NULL);
	return 0;
}

/* A BPF object behind a file: which kind (the anon inode's name says it:
 * "bpf-map", "bpf-prog", and "bpf_link" for a link's first fd but "bpf-link"
 * for one handed out later, by pin or id), its id and its name. False for
 * any other file. */
struct bpf_obj {
	struct fts_obj_key key;
	char name[16];
};

static __always_inline bool obj__of_file(struct file *f, struct bpf_obj *o)
{
	char n[9] = {};
	void *priv = BPF_CORE_READ(f, private_data);

	bpf_probe_read_kernel_str(n, sizeof(n), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (n[0] != 'b' || n[1] != 'p' || n[2] != 'f')
		return false;
	if (n[3] == '-' && n[4] == 'm' && n[5] == 'a' && n[6] == 'p' && !n[7]) {
		o->key.type = FTS_OBJ_MAP;
		o->key.id = BPF_CORE_READ((struct bpf_map *)priv, id);
		bpf_probe_read_kernel_str(o->name, sizeof(o->name), &((struct bpf_map *)priv)->name);
	} else if (n[3] == '-' && n[4] == 'p' && n[5] == 'r' && n[6] == 'o' && n[7] == 'g') {
		o->key.type = FTS_OBJ_PROG;
		o->key.id = BPF_CORE_READ((struct bpf_prog *)priv, aux, id);
		bpf_probe_read_kernel_str(o->name, sizeof(o->name), BPF_CORE_READ((struct bpf_prog *)priv, aux)->name);
	} else if ((n[3] == '_' || n[3] == '-') && n[4] == 'l' && n[5] == 'i' && n[6] == 'n' && n[7] == 'k') {
		o->key.type = FTS_OBJ_LINK;
		o->key.id = BPF_CORE_READ((struct bpf_link *)priv, id);
		bpf_probe_read_kernel_str(o->name, sizeof(o->name), BPF_CORE_READ((struct bpf_link *)priv, prog, aux)->name);
	} else {
		return false;
	}
	return true;
}

/* Which record a bpf() command that succeeded or was tried makes, and the fd
 * that names the object: the new fd for the commands that hand one out, the
 * link_fd of the attribute (the caller's, read at exit) for those that change
 * a link. 0: a command the sensor does not watch. */
static __always_inline __u32 bpf_cmd__op(long cmd, long ret, struct pt_regs *regs, long *fd)
{
	__u32 link_fd = 0;

	if (cmd == BPF_OBJ_GET || cmd == BPF_MAP_GET_FD_BY_ID || cmd == BPF_PROG_GET_FD_BY_ID ||
	    cmd == BPF_LINK_GET_FD_BY_ID) {
		if (ret < 0)
			return 0;
		*fd = ret;
		return cmd == BPF_OBJ_GET ? FTS_SENSOR_OBJ_GET : FTS_SENSOR_FD_BY_ID;
	}
	if (cmd != BPF_LINK_DETACH && cmd != BPF_LINK_UPDATE)
		return 0;
	/* link_detach.link_fd and link_update.link_fd are the attribute's first field */
	if (bpf_probe_read_user(&link_fd, sizeof(link_fd), (void *)PT_REGS_PARM2_CORE_SYSCALL(regs)))
		return 0;
	*fd = link_fd;
	return cmd == BPF_LINK_DETACH ? FTS_SENSOR_LINK_DETACH : FTS_SENSOR_LINK_UPDATE;
}

/* A new fd on one of the daemon's objects (by its pin or by its id), or a
 * change to one of its links, by anyone else. The fd's file is the object
 * itself, so it is known by (kind, id) whatever path or id led there; ids of
 * other programs' objects (bpftool listing, slurmstepd's device programs)
 * miss own_objects and cost one lookup. */
SEC("tracepoint/syscalls/sys_exit_bpf")
int fts_exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct bpf_obj o = {};
	struct file *f;
	long ret = ctx->ret, fd = -1;
	__u32 op;

	if (!fts_daemon_tgid || task__is_daemon(BPF_CORE_READ(task, tgid)))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	op = bpf_cmd__op(PT_REGS_PARM1_CORE_SYSCALL(regs), ret, regs, &fd);
	if (!op)
		return 0;
	f = fd__file(task, fd);
	if (!f || !obj__of_file(f, &o))
		return 0;
	if (!bpf_map_lookup_elem(&own_objects, &o.key))
		return 0;
	sensor__report(task, op, o.key.id, ret, o.key.type, o.name);
	return 0;
}
