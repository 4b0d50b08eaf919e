// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sensor watching itself: signals sent to the daemon by other processes,
 * and another process taking one of the daemon's maps by its pin.
 */
#include "lib/file.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FTS_SI_KERNEL 0x80
#define FTS_SEND_SIG_PRIV ((void *)1)

/* One record about the sensor itself, done by @task. @map_name: the taken
 * map's name, or NULL. */
static __always_inline void sensor__report(struct task_struct *task, __u32 op, __u32 arg, long result, int code,
					   const char *map_name)
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
	if (map_name)
		bpf_probe_read_kernel_str(e->name, sizeof(e->name), map_name);
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

/* bpf(BPF_OBJ_GET) hands out a new fd on the pinned object itself: the fd's
 * file is the map (anon inode "bpf-map"), so the daemon's maps are known by id,
 * whatever path or bind mount the pin was reached through. */
SEC("tracepoint/syscalls/sys_exit_bpf")
int fts_exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct bpf_map *map;
	struct file *f;
	long ret = ctx->ret;
	char name[8] = {};
	__u32 id;

	if (ret < 0)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (PT_REGS_PARM1_CORE_SYSCALL(regs) != BPF_OBJ_GET)
		return 0;
	if (!fts_daemon_tgid || task__is_daemon(BPF_CORE_READ(task, tgid)))
		return 0;
	f = fd__file(task, ret);
	if (!f)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (name[0] != 'b' || name[1] != 'p' || name[2] != 'f' || name[3] != '-' || name[4] != 'm' || name[5] != 'a' ||
	    name[6] != 'p')
		return 0; /* a program or link, not a map */
	map = BPF_CORE_READ(f, private_data);
	id = BPF_CORE_READ(map, id);
	if (!bpf_map_lookup_elem(&own_maps, &id))
		return 0;
	sensor__report(task, FTS_SENSOR_OBJ_GET, id, ret, 0, (const char *)&map->name);
	return 0;
}
