/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Files from the kernel's side: the struct file behind an fd, the classes of
 * watched data it lies under (by inode ancestry, so symlinks, "..", dirfds,
 * /proc/self/fd and bind mounts all land on the same answer), and records.
 */
#ifndef FTS_BPF_FILE_H
#define FTS_BPF_FILE_H

#include "maps.h"
#include "path.h"
#include "task.h"
#include <bpf/bpf_core_read.h>

#define FTS_CLASS_WALK 32  /* d_parent steps checked against `watched` */

#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define O_ACCMODE 00000003
#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_CREAT 00000100
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define AT_FDCWD -100
#define EPERM 1
#define EACCES 13

/* The struct file of descriptor @fd of the current task (a BTF pointer:
 * direct loads), or NULL. The file is a plain value: file.bpf.c types it
 * again (file__typed) for direct loads of its fields. */
static __always_inline struct file *fd__file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file *f = NULL;

	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	return f;
}

static __always_inline __u64 inode__dev(struct inode *inode)
{
	return BPF_CORE_READ(inode, i_sb, s_dev);
}

struct class_walk {
	struct dentry *dentry;
	__u64 dev;
	__u32 classes;
	__u32 id;
	__u16 depth;     /* steps above the file where the nearest watched entry sits */
	bool found;
};

/* One step of the classification walk: d_parent only, never across mounts,
 * because the dentry tree of a superblock is the same whichever mount (or
 * bind mount) the file was opened through. */
static long class__step(__u32 i, struct class_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct fts_inode_key key = {
		.dev = w->dev,
		.ino = BPF_CORE_READ(dentry, d_inode, i_ino),
	};
	struct fts_watch *v = bpf_map_lookup_elem(&watched, &key);
	struct dentry *parent;

	if (v) {
		if (!w->found) {
			w->found = true;
			w->id = v->id;
			w->depth = i;
		}
		w->classes |= v->classes;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (parent == dentry)
		return 1;
	w->dentry = parent;
	return 0;
}

/* Bit min(len, 63) set for each name in watched_names, by the daemon
 * (Sensor::set_watched_names): a name of a length no watched name has is
 * not looked up, so most opens skip copying the name and hashing 64 bytes.
 * The daemon widens it before it changes the map and narrows it after. */
__u64 fts_name_lens __weak = 0;

/* Is @dentry's leaf name in watched_names? Its classes, or 0. */
static __always_inline __u32 dentry__name_classes(struct dentry *dentry)
{
	struct fts_name_key nk = {};
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	struct fts_watch *v;

	if (!(fts_name_lens & (1ull << (len < 63 ? len : 63))))
		return 0;
	bpf_probe_read_kernel_str(nk.name, sizeof(nk.name), BPF_CORE_READ(dentry, d_name.name));
	v = bpf_map_lookup_elem(&watched_names, &nk);
	return v ? v->classes : 0;
}

struct file_class {
	__u32 classes;
	__u32 id;
	__u16 depth;
	bool by_name;
};

/* Classes of a dentry: its own inode (hard-linked files are registered by
 * inode), its ancestors, and the leaf-name map. */
static __always_inline void dentry__classify(struct dentry *dentry, __u64 dev, struct file_class *out)
{
	struct class_walk w = { .dentry = dentry, .dev = dev, .id = ~0u };
	__u32 name_classes;

	bpf_loop(FTS_CLASS_WALK, class__step, &w, 0);
	out->classes = w.classes;
	out->id = w.id;
	out->depth = w.depth;
	out->by_name = false;
	name_classes = dentry__name_classes(dentry);
	if (name_classes) {
		out->classes |= name_classes;
		out->by_name = true;
	}
}

/* Cheap check for processes outside jobs: the file's own inode and its name.
 * @dentry is read from file__typed's pointer (file.bpf.c): direct loads. */
static __always_inline __u32 dentry__own_classes(struct dentry *dentry, __u64 dev)
{
	struct fts_inode_key key = { .dev = dev, .ino = dentry->d_inode->i_ino };
	struct fts_watch *v = bpf_map_lookup_elem(&watched, &key);

	return (v ? v->classes : 0) | dentry__name_classes(dentry);
}

/* Was this (process, file, access) decided already (reported, or a base read)? */
static __always_inline bool seen__test(__u32 tgid, __u32 access, __u64 dev, __u64 ino)
{
	struct fts_seen_key key = { .tgid = tgid, .access = access, .dev = dev, .ino = ino };

	return bpf_map_lookup_elem(&seen_opens, &key) != NULL;
}

static __always_inline void seen__set(__u32 tgid, __u32 access, __u64 dev, __u64 ino)
{
	struct fts_seen_key key = { .tgid = tgid, .access = access, .dev = dev, .ino = ino };
	__u8 one = 1;

	bpf_map_update_elem(&seen_opens, &key, &one, BPF_ANY);
}

#endif /* FTS_BPF_FILE_H */
