#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mode_replier.py BIND DIR [N2 SIZE2]: an upstream for test_relay_mirror's mode_change_case
and overflow_case. Takes the first datagram's sender as its peer (a relay's session or mirror
socket), writes it to DIR/peer ("IP PORT"), then on DIR/go1 sends 12000 datagrams of 1000
bytes to it (more than the socket's buffer holds: from then on each datagram it queues
carries SO_RXQ_OVFL) and writes DIR/sent1; on DIR/go2 sends N2 (20) of SIZE2 (200) bytes of
0xff and writes DIR/sent2. Waits 30 s at most for each step. BIND is "IP:PORT" or
"[IPv6]:PORT"."""
import os
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
host = host.strip("[]")
d = sys.argv[2]
n2, size2 = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (20, 200)
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, int(port)))
s.settimeout(30)


def wait(name):
    end = time.monotonic() + 30
    while not os.path.exists(os.path.join(d, name)):
        if time.monotonic() > end:
            sys.exit("mode_replier: no " + name)
        time.sleep(0.02)


def mark(name):
    open(os.path.join(d, name), "w").close()


_, peer = s.recvfrom(2048)
with open(os.path.join(d, "peer.tmp"), "w") as f:
    f.write("%s %d\n" % peer[:2])
os.rename(os.path.join(d, "peer.tmp"), os.path.join(d, "peer"))
wait("go1")
for _ in range(12000):
    s.sendto(b"\x01" * 1000, peer)
mark("sent1")
wait("go2")
for _ in range(n2):
    s.sendto(b"\xff" * size2, peer)
mark("sent2")
