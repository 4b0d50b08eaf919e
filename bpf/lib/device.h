/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * GPU and RDMA devices a job opens, recognised by the opened inode's device
 * number (i_rdev) against the `device_classes` map the daemon fills from
 * /proc/devices and /proc/misc names: a node at any path, a container's own
 * /dev included, is the same device. Job processes only (their opens are
 * classified anyway); opens by everyone else are the daemon's fanotify marks
 * on the nodes it found (daemon/devices), so the untracked open path pays
 * nothing here.
 */
#ifndef FTS_BPF_DEVICE_H
#define FTS_BPF_DEVICE_H

#include "file.h"

#define FTS_S_IFMT 0170000
#define FTS_S_IFCHR 0020000
#define FTS_MINORBITS 20

/* The class of char device (major, minor), or 0. */
static __always_inline __u32 device__class(__u32 major, __u32 minor)
{
	struct fts_device_key key = { .major = major, .minor = minor };
	struct fts_device_class_value *v = bpf_map_lookup_elem(&device_classes, &key);

	if (v)
		return v->cls;
	key.minor = FTS_DEVICE_ANY_MINOR;
	v = bpf_map_lookup_elem(&device_classes, &key);
	if (v && minor >= v->minor_min && minor <= v->minor_max)
		return v->cls;
	return 0;
}

/* A job process opened @f (fd @fd): a device record when it is a GPU or
 * RDMA device, once per process, node and access. */
static __always_inline void device__open(struct who *w, struct file *f, __u32 access, long fd)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	struct fts_device_event *e;
	__u32 rdev, major, minor, cls, pflags = 0;
	__u64 dev, ino;

	if ((BPF_CORE_READ(inode, i_mode) & FTS_S_IFMT) != FTS_S_IFCHR)
		return;
	rdev = BPF_CORE_READ(inode, i_rdev);
	major = rdev >> FTS_MINORBITS;
	minor = rdev & ((1u << FTS_MINORBITS) - 1);
	cls = device__class(major, minor);
	if (!cls)
		return;
	dev = inode__dev(inode);
	ino = BPF_CORE_READ(inode, i_ino);
	if (seen__test(w->tgid, access | FTS_ACC_DEVICE_SEEN, dev, ino))
		return;
	seen__set(w->tgid, access | FTS_ACC_DEVICE_SEEN, dev, ino);
	e = scratch__get();
	if (!e)
		return;
	e->major = major;
	e->minor = minor;
	e->dev = dev;
	e->ino = ino;
	e->result = fd;
	e->cls = cls;
	e->access = access;
	e->_pad = 0;
	e->path_len = path__encode(&f->f_path, (char *)e, sizeof(*e), &e->path_depth, &pflags);
	e->flags = pflags;
	__u32 size = sizeof(*e) + e->path_len;
	event__header(&e->hdr, FTS_EV_DEVICE, size, w->task, w->job_id, bpf_get_current_cgroup_id());
	event__output(e, size & FTS_SCRATCH_MASK);
}

#endif /* FTS_BPF_DEVICE_H */
