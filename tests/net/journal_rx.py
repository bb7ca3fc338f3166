#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plays journald for test_ops.sh, inside a private mount namespace only.

  journal_rx.py SOCKET OUT SECONDS

Binds the native journal socket path SOCKET (AF_UNIX datagrams, as sd_journal_send writes
them), touches OUT.ready, and rewrites OUT after each datagram as a JSON list of entries,
each a dict of its KEY=VALUE fields (the simple form; binary-safe fields are not needed for
ringrelay's). Stops after SECONDS or on SIGTERM.
"""
import json
import os
import signal
import socket
import sys
import time


def main():
    path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    open(out + ".ready", "w").close()
    entries, end = [], time.time() + secs
    while time.time() < end:
        try:
            data = s.recv(1 << 16).decode("utf-8", "replace")
        except socket.timeout:
            continue
        entries.append(dict(l.split("=", 1) for l in data.split("\n") if "=" in l))
        with open(out + ".tmp", "w") as f:
            json.dump(entries, f)
        os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
