/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Canonical paths from the kernel's own objects: a walk up d_parent that
 * crosses mounts through mnt_mountpoint, so symlinks, "..", dirfds and bind
 * mounts all resolve to what the dentry cache says. Nothing here reads a
 * pointer the caller gave the syscall.
 */
#ifndef FTS_BPF_PATH_H
#define FTS_BPF_PATH_H

#include "maps.h"
#include <bpf/bpf_core_read.h>

#define FTS_MNT_NS_INTERNAL ((void *)1) /* kern_mount()'s marker (fs/mount.h) */

struct path_walk {
	char *buf;
	__u32 off;
	__u32 written;
	__u16 depth;
	bool done;
	bool pseudo;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
};

/* One step up the tree; bpf_loop callback, so the verifier checks it once.
 * (Kernel pointers are copied to locals: BPF_CORE_READ on a field of a local
 * struct would emit a relocation against that local type.) */
static long path__step(__u32 i, struct path_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root) {
			/* A root that is not its mount's: a pseudo file (memfd, pipe,
			 * socket) or a disconnected dentry. Its name is all there is. */
			const unsigned char *pname = BPF_CORE_READ(dentry, d_name.name);
			long n = bpf_probe_read_kernel_str(w->buf + ((w->off + w->written) & FTS_SCRATCH_MASK),
							   FTS_NAME_MAX, pname);
			if (n > 0) {
				w->written += n;
				w->depth++;
			}
			w->pseudo = true;
			w->done = true;
			return 1;
		}

		if (dentry == mnt_root && mnt != mnt_parent) {
			/* Step out of this mount onto the dentry it covers. */
			w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			w->mnt = mnt_parent;
			w->vfsmnt = &mnt_parent->mnt;
			return 0;
		}
		w->done = true; /* the root of the mount tree */
		return 1;
	}
	if (w->written > FTS_PATH_MAX - FTS_NAME_MAX)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long len = bpf_probe_read_kernel_str(w->buf + ((w->off + w->written) & FTS_SCRATCH_MASK),
					     FTS_NAME_MAX, name);
	if (len <= 0)
		return 1;
	w->written += len;
	w->depth++;
	w->dentry = parent;
	return 0;
}

/*
 * Write the path of @p into scratch @buf at @off, leaf first, one
 * NUL-terminated component after another. Returns the bytes written and sets
 * *depth (components) and *flags (FTS_PATH_*). The root directory is zero
 * components.
 */
static __always_inline __u32 path__encode(const struct path *p, char *buf, __u32 off,
					  __u16 *depth, __u32 *flags)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(p, mnt);
	struct path_walk w = {
		.buf = buf,
		.off = off,
		.dentry = BPF_CORE_READ(p, dentry),
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
	};
	struct mount *mnt = w.mnt;
	struct dentry *dentry = w.dentry;
	void *ns = BPF_CORE_READ(mnt, mnt_ns);

	*flags = 0;
	if (!ns || ns == FTS_MNT_NS_INTERNAL)
		*flags |= FTS_PATH_INTERNAL;
	if (dentry && !BPF_CORE_READ(dentry, d_hash.pprev) &&
	    dentry != BPF_CORE_READ(dentry, d_parent))
		*flags |= FTS_PATH_DELETED;

	bpf_loop(FTS_PATH_DEPTH, path__step, &w, 0);
	if (!w.done)
		*flags |= FTS_PATH_TRUNCATED;
	if (w.pseudo)
		*flags |= FTS_PATH_INTERNAL;
	*depth = w.depth;
	return w.written & (FTS_PATH_MAX - 1 + FTS_PATH_MAX); /* <= FTS_PATH_MAX, for the verifier */
}

#endif /* FTS_BPF_PATH_H */
