#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""thread_stop.py TID SECONDS: stops one thread of another process for SECONDS, the others
running on (a worker loop that is stuck, as far as the rest of the process can tell).

PTRACE_SEIZE and PTRACE_INTERRUPT stop only the thread named; SIGSTOP would stop them all.
Prints "stopped TID" once it is stopped; resumes it after SECONDS, or at once on SIGTERM
(the kernel detaches a tracer's tracees when it exits, so they never stay stopped)."""
import ctypes
import os
import signal
import sys

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000  # __WALL: wait for a thread that is not our child's main thread

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid):
    if libc.ptrace(req, tid, None, None) != 0:
        e = ctypes.get_errno()
        sys.exit("thread_stop: ptrace %#x on %d: %s" % (req, tid, os.strerror(e)))


def main():
    tid, seconds = int(sys.argv[1]), float(sys.argv[2])
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])  # taken by sigtimedwait
    ptrace(PTRACE_SEIZE, tid)
    ptrace(PTRACE_INTERRUPT, tid)
    os.waitpid(tid, WALL)
    print("stopped", tid, flush=True)
    signal.sigtimedwait([signal.SIGTERM], seconds)
    libc.ptrace(PTRACE_DETACH, tid, None, None)
    print("resumed", tid, flush=True)


if __name__ == "__main__":
    main()
