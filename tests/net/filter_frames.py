#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Raw Ethernet frames for the filter's netns tests (standard library only), sent through an
AF_PACKET socket so they can carry what a UDP socket never sends: VLAN stacks and hand-made
fragments.

  filter_frames.py --ifname IF --dst-mac MAC --src IP --dst IP --dport PORT
                   [--kind udp|later-fragment] [--tags N] [--size N] [--count N]
                   [--sport P] [--next-header N]

  udp             one whole UDP datagram (--size payload bytes, correct checksums) per frame,
                  inside --tags VLAN tags with VID 0 (the stack strips any number of them):
                  802.1Q, the outermost one 802.1ad when there are several
  later-fragment  only a non-first fragment (offset 1480, last) of --size bytes: IPv4 with
                  protocol UDP; IPv6 with a fragment header whose next header is
                  --next-header (default 17; the stack ignores it in later fragments)

Frame i uses UDP source port --sport + i and IP ID / fragment ID 0x5200 + i. Prints one JSON
line {"sent": N, "bytes": B} and exits 0 when every frame was sent.
"""

import argparse
import errno
import ipaddress
import json
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_datagram(src, dst, sport, dport, payload):
    ulen = 8 + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, ulen)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", ulen, 17)
    hdr = struct.pack("!HHHH", sport, dport, ulen, 0)
    c = csum(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, ulen, c) + payload


def ipv4(src, dst, proto, ident, frag_field, body):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, frag_field, 64, proto,
                      0, src.packed, dst.packed)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + body


def ipv6(src, dst, next_header, body):
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), next_header, 64, src.packed,
                       dst.packed) + body


def frame(args, i, src, dst, smac, dmac):
    payload = bytes((i + k) & 0xFF for k in range(args.size))
    ident = 0x5200 + i
    if args.kind == "udp":
        udp = udp_datagram(src, dst, args.sport + i, args.dport, payload)
        l3 = ipv4(src, dst, 17, ident, 0, udp) if src.version == 4 else ipv6(src, dst, 17, udp)
    elif src.version == 4:
        l3 = ipv4(src, dst, 17, ident, 1480 // 8, payload)
    else:
        fh = struct.pack("!BBHI", args.next_header, 0, 1480, ident)
        l3 = ipv6(src, dst, 44, fh + payload)
    ethertype = 0x0800 if src.version == 4 else 0x86DD
    tags = b""
    for t in range(args.tags):
        tpid = 0x88A8 if t == 0 and args.tags > 1 else 0x8100
        tags += struct.pack("!HH", tpid, 0)
    return dmac + smac + tags + struct.pack("!H", ethertype) + l3


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ifname", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--sport", type=int, default=41000)
    ap.add_argument("--kind", choices=("udp", "later-fragment"), default="udp")
    ap.add_argument("--tags", type=int, default=0)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--next-header", type=int, default=17)
    args = ap.parse_args()
    src, dst = ipaddress.ip_address(args.src), ipaddress.ip_address(args.dst)
    with open("/sys/class/net/%s/address" % args.ifname) as f:
        smac = bytes.fromhex(f.read().strip().replace(":", ""))
    dmac = bytes.fromhex(args.dst_mac.replace(":", ""))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only
    sock.bind((args.ifname, 0))
    sent = nbytes = 0
    for i in range(args.count):
        data = frame(args, i, src, dst, smac, dmac)
        # ENOBUFS: the receiving CPU's backlog (shared by every namespace on the host) was
        # full and the frame never reached the peer; send it again, a bounded number of times.
        for _ in range(200):
            try:
                if sock.send(data) == len(data):
                    sent += 1
                    nbytes += len(data)
                break
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    print("send: %s" % e, file=sys.stderr)
                    break
                time.sleep(0.005)
    print(json.dumps({"sent": sent, "bytes": nbytes}), flush=True)
    return 0 if sent == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
