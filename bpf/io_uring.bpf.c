// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * io_uring: requests a job submits bypass the syscall tracepoints above (an
 * IORING_OP_OPENAT or WRITE never enters sys_openat/sys_write), so every
 * submission by a job process is reported with its opcode and fd, and every
 * ring a job creates. The fanotify backstop still sees their effect on
 * protected trees.
 */
#include "lib/maps.h"
#include "lib/task.h"

static __always_inline void io_uring__report(__u32 opcode, __s32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	struct fts_io_uring_event *e;

	if (!st)
		return;
	/* Once per process and opcode: a ring is submitted to thousands of times. */
	struct fts_seen_key seen = { .tgid = BPF_CORE_READ(task, tgid), .access = 0x80000000u | opcode };
	__u8 one = 1;
	if (bpf_map_lookup_elem(&seen_opens, &seen))
		return;
	bpf_map_update_elem(&seen_opens, &seen, &one, BPF_ANY);
	e = event__reserve(sizeof(*e));
	if (!e)
		return;
	event__header(&e->hdr, FTS_EV_IO_URING, sizeof(*e), task, st->job_id, bpf_get_current_cgroup_id());
	e->opcode = opcode;
	e->fd = fd;
	e->flags = 0;
	e->_pad = 0;
	event__submit(e);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/io_uring_create")
int BPF_PROG(fts_io_uring_create, int fd, void *ring, __u32 sq_entries, __u32 cq_entries, __u32 flags)
{
	io_uring__report(~0u, fd);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(fts_io_uring_submit, struct io_kiocb *req)
{
	io_uring__report(BPF_CORE_READ(req, opcode), BPF_CORE_READ(req, cqe.fd));
	return 0;
}
