/* SPDX-License-Identifier: MIT */
/* The epoll + recvmmsg/sendmmsg backend (worker_mmsg.c): the runtime hands these ops to its
 * workers where io_uring cannot run. */
#ifndef RINGRELAY_WORKER_MMSG_H
#define RINGRELAY_WORKER_MMSG_H

struct worker_ops;

extern const struct worker_ops worker_mmsg_ops;

#endif
