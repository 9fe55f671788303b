/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One ops table, two implementations: the kernel (backend-kernel.c: ioctl(2)
 * on the iommufd, the fault fd used as it is) and the mock (lib/mock/).
 *
 * The engines always do real I/O on the fault fd (read/write syscalls or
 * io_uring SQEs). The hooks let the mock stand behind a real file and still
 * give the fault file's exact semantics: it stages, before each read, exactly
 * the whole groups the kernel's read would return, and judges each write's
 * answers as the kernel would, rewriting the result. The kernel backend leaves
 * every hook NULL.
 */
#ifndef IOPF_BACKEND_H
#define IOPF_BACKEND_H

#include <stddef.h>
#include <sys/types.h>

struct iopf_backend_ops {
	/* An iommufd ioctl on a uapi struct that starts with its size.
	 * Returns 0 or -errno, writing outputs into arg like the kernel. */
	int (*ioctl)(void *be, unsigned long cmd, void *arg);

	/* The fd to wait on (EPOLLIN) for the fault fd; NULL: the fault fd. */
	int (*poll_fd)(void *be, int fault_fd);

	/* Called before every read of len bytes. Returns 0 to let the read
	 * happen, or 1 to skip it: the read's result is then *res (0, or
	 * -errno), and no I/O may be issued. */
	int (*read_prepare)(void *be, int fault_fd, size_t len, ssize_t *res);

	/* Called after every read and write with the raw result (bytes or
	 * -errno); returns the result the caller must act upon. */
	ssize_t (*read_done)(void *be, int fault_fd, void *buf, size_t len,
			     ssize_t res);
	ssize_t (*write_done)(void *be, int fault_fd, const void *buf,
			      size_t len, ssize_t res);

	/* Closes a fault fd the backend handed out (NULL: close(2)). */
	void (*fault_close)(void *be, int fault_fd);

	/* The context using this backend is being freed. */
	void (*release)(void *be);
};

struct iopf_ctx;

/* Used by the mock to create a context over itself. ctx_fd is a real fd the
 * context owns and returns from iopf_ctx_fd(). */
int iopf_ctx_new_backend(const struct iopf_backend_ops *ops, void *be,
			 int ctx_fd, struct iopf_ctx **out);

#endif
