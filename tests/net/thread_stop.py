#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""thread_stop.py TID SECONDS [SYSCALL]: stops one thread of another process for SECONDS, the
others running on (a worker loop that is stuck, as far as the rest of the process can tell).
With SYSCALL (bind, socket), the thread runs on until it enters that call and stops there: a
worker stuck in the middle of a piece of work (a reload's new listener binds in the worker).

PTRACE_SEIZE and PTRACE_INTERRUPT stop only the thread named; SIGSTOP would stop them all.
Prints "stopped TID" once it is stopped; resumes it after SECONDS, or at once on SIGTERM
(the kernel detaches a tracer's tracees when it exits, so they never stay stopped)."""
import ctypes
import os
import signal
import sys
import time

PTRACE_SYSCALL, PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 24, 17, 0x4206, 0x4207
PTRACE_SETOPTIONS, PTRACE_O_TRACESYSGOOD = 0x4200, 1
PTRACE_GET_SYSCALL_INFO, SYSCALL_INFO_ENTRY = 0x420E, 1
WALL = 0x40000000  # __WALL: wait for a thread that is not our child's main thread
# syscall numbers by machine (asm/unistd.h)
SYSCALLS = {
    "x86_64": {"socket": 41, "bind": 49},
    "aarch64": {"socket": 198, "bind": 200},
}

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid, addr=None, data=None):
    if libc.ptrace(req, tid, addr, data) != 0:
        e = ctypes.get_errno()
        sys.exit("thread_stop: ptrace %#x on %d: %s" % (req, tid, os.strerror(e)))


def entered(tid):
    """The number of the call the thread stopped at the entry of, or None (its exit)."""
    info = ctypes.create_string_buffer(88)  # struct ptrace_syscall_info
    n = libc.ptrace(PTRACE_GET_SYSCALL_INFO, tid, ctypes.c_void_p(len(info)), info)
    if n < 0:
        sys.exit("thread_stop: PTRACE_GET_SYSCALL_INFO: %s" % os.strerror(ctypes.get_errno()))
    if info.raw[0] != SYSCALL_INFO_ENTRY:
        return None
    return int.from_bytes(info.raw[24:32], sys.byteorder)


def run_to(tid, nr, deadline):
    """Lets the thread run from syscall to syscall until it enters nr (True), or until
    deadline (False, the thread stopped wherever it was)."""
    ptrace(PTRACE_SETOPTIONS, tid, None, ctypes.c_void_p(PTRACE_O_TRACESYSGOOD))
    while time.monotonic() < deadline:
        ptrace(PTRACE_SYSCALL, tid)
        _, status = os.waitpid(tid, WALL)
        if os.WIFSTOPPED(status) and os.WSTOPSIG(status) == (signal.SIGTRAP | 0x80):
            if entered(tid) == nr:
                return True
    return False


def main():
    tid, seconds = int(sys.argv[1]), float(sys.argv[2])
    call = sys.argv[3] if len(sys.argv) > 3 else None
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])  # taken by sigtimedwait
    deadline = time.monotonic() + seconds
    ptrace(PTRACE_SEIZE, tid)
    ptrace(PTRACE_INTERRUPT, tid)
    os.waitpid(tid, WALL)
    if call:
        print("tracing", tid, flush=True)
        if not run_to(tid, SYSCALLS[os.uname().machine][call], deadline):
            print("no", call, "within", seconds, "s", flush=True)
        else:
            print("stopped", tid, "in", call, flush=True)
    else:
        print("stopped", tid, flush=True)
    seconds = max(deadline - time.monotonic(), 0)
    signal.sigtimedwait([signal.SIGTERM], seconds)
    libc.ptrace(PTRACE_DETACH, tid, None, None)
    print("resumed", tid, flush=True)


if __name__ == "__main__":
    main()
