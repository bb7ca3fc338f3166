/* SPDX-License-Identifier: MIT */
/* The io_uring backend (worker_uring.c): the runtime hands these ops to its workers. */
#ifndef RINGRELAY_WORKER_URING_H
#define RINGRELAY_WORKER_URING_H

struct worker_ops;

extern const struct worker_ops worker_uring_ops;

#endif
