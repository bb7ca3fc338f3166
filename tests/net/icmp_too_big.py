#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One ICMP "fragmentation needed" (IPv4) or "packet too big" (IPv6) about a UDP datagram,
as a router whose next link takes only --mtu bytes would send it, or with --port-unreachable
a "port unreachable" (both families), as the datagram's destination host sends it when
nothing listens there (standard library only; a raw socket, so run it as root in the sending
namespace):

  icmp_too_big.py --src IP --dst IP --inner-src IP:PORT --inner-dst IP:PORT
                  (--mtu N | --port-unreachable)

--src / --dst: the ICMP message's own addresses (the router's, the datagram's sender's);
--inner-src / --inner-dst: the datagram it is about (1400 bytes of payload). The kernel that
receives it records the path MTU toward --inner-dst and, when a socket with IP_RECVERR sent
that datagram, queues the error there and makes it the socket's pending error.
"""

import argparse
import socket
import struct

from filter_frames import csum  # the Internet checksum, beside this script


def ep(text):
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--inner-src", required=True)
    p.add_argument("--inner-dst", required=True)
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--mtu", type=int)
    kind.add_argument("--port-unreachable", action="store_true")
    a = p.parse_args()
    (isrc, sport), (idst, dport) = ep(a.inner_src), ep(a.inner_dst)
    payload = 1400
    if ":" not in a.dst:
        ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + payload, 0, 0x4000, 64, 17, 0,
                         socket.inet_aton(isrc), socket.inet_aton(idst))
        ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
        if a.port_unreachable:
            body = struct.pack("!BBHI", 3, 3, 0, 0) + ih
        else:
            body = struct.pack("!BBHHH", 3, 4, 0, 0, a.mtu) + ih
        body += struct.pack("!HHHH", sport, dport, 8 + payload, 0)
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        ih = struct.pack("!IHBB16s16s", 0x60000000, 8 + payload, 17, 64,
                         socket.inet_pton(socket.AF_INET6, isrc),
                         socket.inet_pton(socket.AF_INET6, idst))
        # the kernel sums an ICMPv6 socket's messages itself
        if a.port_unreachable:
            body = struct.pack("!BBHI", 1, 4, 0, 0) + ih
        else:
            body = struct.pack("!BBHI", 2, 0, 0, a.mtu) + ih
        body += struct.pack("!HHHH", sport, dport, 8 + payload, 0)
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.bind((a.src, 0))
    s.sendto(body, (a.dst, 0))


if __name__ == "__main__":
    main()
