#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""UDP traffic tool for the netns tests (standard library only).

  echo   --bind EP [--count N] [--seconds S] [--out FILE]
  sink   --bind EP --seconds S --out FILE [--count N]
         (echo and sink: --ready FILE is created once the socket is bound)
  client --to EP --clients K --count N (--size S | --sizes A,B,..) [--expect-echo]
         [--expect-none] [--seconds S] [--bind IP] [--port-base P] [--record FILE]
         [--interval S] [--gso N]
  queued --socket listener|session --to EP --upstream EP --count N --stop PID --client-ns NS
         run in the upstream's namespace: a client (made in NS) opens a session through the
         relay at EP to a socket bound to --upstream; with the relay (PID) stopped, N empty
         datagrams queue on the listener's socket (the client sends them) or on the
         session's (the upstream sends them); then counts the empty ones that come through.

EP is "IP:PORT" or "[IPv6]:PORT". Every mode prints a one-line JSON summary on stdout.

Payloads are deterministic: "PORT:CLIENT:SEQ|" followed by a filler pattern, cut to the
requested size (so 1-byte and 0-byte datagrams are possible). A client checks each reply
byte-exact against the multiset of payloads *its own socket* sent, so a reply delivered to
the wrong client shows up as "foreign" and the run fails.

echo/sink record one line per datagram in --out: "PEER LEN HEX KEY", where KEY is the
"PORT:CLIENT:SEQ" header when the payload carries one and "-" otherwise. The file is flushed
per datagram so tests can poll it while the server runs.

client --gso N: each of the --count sends is one UDP GSO super-datagram (UDP_SEGMENT) of N
datagrams of --size bytes, each with its own payload; counts are datagrams.
"""

import argparse
import collections
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

BIG_BUF = 8 << 20
UDP_SEGMENT = 103  # linux/udp.h


def parse_ep(text):
    """Split "IP:PORT" / "[IP6]:PORT" into (family, host, port)."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return socket.AF_INET6, host, int(port)
    host, _, port = text.rpartition(":")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, host, int(port)


def fmt_peer(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def big_buffers(sock):
    """Ask for large socket buffers so a slow Python peer does not drop a test burst.
    SO_*BUFFORCE needs CAP_NET_ADMIN (the tests run as root); fall back silently."""
    for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF),
                         (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, BIG_BUF)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, BIG_BUF)
            except OSError:
                pass


def payload(port, idx, seq, size):
    head = b"%d:%d:%d|" % (port, idx, seq)
    if size <= len(head):
        return head[:size]
    n = size - len(head)
    base = (port * 7 + idx * 13 + seq * 31) & 0xFF
    return head + bytes((base + k) & 0xFF for k in range(n))


def key_of(data):
    head, sep, _ = data[:40].partition(b"|")
    if not sep:
        return "-"
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return "-"
    parts = text.split(":")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return text
    return "-"


class Stop:
    """Turns SIGTERM/SIGINT into a flag so servers still print their summary."""

    def __init__(self):
        self.flag = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_):
        self.flag = True


def wait_scale():
    """NET_WAIT_SCALE (tests/net/lib.sh): the tests' bounded waits are that many times longer
    on a slow machine (an emulated CPU), and so are the tests. A server's --seconds bounds
    its life, which the test ends sooner: it is stretched as much, or a test that takes
    longer than usual outlives the echo server it started first."""
    try:
        return max(1, int(os.environ.get("NET_WAIT_SCALE", "1")))
    except ValueError:
        return 1


def serve(args, reply):
    fam, host, port = parse_ep(args.bind)
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    # No SO_REUSEADDR/SO_REUSEPORT: a server here must own its port, so a test can also use
    # it to hold a port and check that the relay refuses to share it.
    big_buffers(sock)
    sock.bind((host, port))
    # A SIGTERM ends the wait at the next timeout (PEP 475 resumes the recv after the
    # handler): 20 ms, so the tests' hundreds of server stops take little each.
    sock.settimeout(0.02)
    out = open(args.out, "w", buffering=1) if args.out else None
    stop = Stop()
    if args.ready:
        # Bound, --out open, SIGTERM handled: the test may go on. (It waits for this file,
        # not for ss to list the socket: one look costs a stat, an ss in the namespace tens
        # of ms of the CPU this start needs.)
        open(args.ready, "w").close()
    deadline = time.monotonic() + args.seconds * wait_scale()
    got = nbytes = errors = 0
    peers = collections.Counter()
    held = collections.defaultdict(list)  # --hold: a peer's datagrams not echoed yet
    while not stop.flag and time.monotonic() < deadline:
        if args.count and got >= args.count:
            break
        try:
            data, peer = sock.recvfrom(65536)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        except OSError:
            errors += 1
            continue
        got += 1
        nbytes += len(data)
        pstr = fmt_peer(peer)
        peers[pstr] += 1
        if out:
            out.write("%s %d %s %s\n" % (pstr, len(data), data.hex() or "-", key_of(data)))
        if reply and args.hold > 1:
            # Every HOLD datagrams of a peer go back as one UDP GSO send (segments of the
            # first one's size): a coalesced burst for whoever receives it.
            held[peer].append(data)
            if len(held[peer]) == args.hold:
                try:
                    sock.sendmsg([b"".join(held[peer])],
                                 [(socket.SOL_UDP, UDP_SEGMENT,
                                   struct.pack("H", len(held[peer][0])))], 0, peer)
                except OSError:
                    errors += 1
                held[peer] = []
        elif reply:
            try:
                sock.sendto(b"r" * args.reply_size if args.reply_size else data, peer)
            except OSError:
                errors += 1
    if out:
        out.close()
    print(json.dumps({"mode": "echo" if reply else "sink", "bind": args.bind,
                      "received": got, "bytes": nbytes, "peers": len(peers),
                      "errors": errors}), flush=True)
    return 0


def client(args):
    fam, host, port = parse_ep(args.to)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [args.size]
    bind_ip = args.bind or ("::" if fam == socket.AF_INET6 else "0.0.0.0")
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(args.clients):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        big_buffers(s)
        s.bind((bind_ip, args.port_base + i if args.port_base else 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    pending = [collections.Counter() for _ in socks]
    received = [0] * len(socks)
    foreign = errors = sent = 0
    record = open(args.record, "w") if args.record else None
    deadline = time.monotonic() + args.seconds
    round_wait = args.round_wait
    per_send = args.gso or 1

    def drain(until, want_done):
        nonlocal foreign, errors
        while True:
            if want_done and want_done():
                return
            left = until - time.monotonic()
            if left <= 0:
                return
            for key, _ in sel.select(min(left, 0.05)):
                s = key.fileobj
                i = key.data
                while True:
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        errors += 1
                        break
                    if pending[i][data] > 0:
                        pending[i][data] -= 1
                        received[i] += 1
                    else:
                        foreign += 1

    def outstanding():
        return sum(sum(c.values()) for c in pending)

    for seq in range(args.count):
        if seq and args.interval:
            time.sleep(args.interval)
        if time.monotonic() >= deadline:
            break
        size = sizes[seq % len(sizes)]
        this_round = []
        for i, s in enumerate(socks):
            parts = [payload(ports[i], i, seq * per_send + k, size) for k in range(per_send)]
            try:
                if args.gso:
                    s.sendmsg([b"".join(parts)],
                              [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("H", size))], 0,
                              (host, port))
                else:
                    s.sendto(parts[0], (host, port))
            except BlockingIOError:
                errors += 1
                continue
            except OSError:
                errors += 1
                continue
            sent += per_send
            for data in parts:
                if record:
                    record.write("%s\n" % (data.hex() or "-"))
                if args.expect_echo:
                    pending[i][data] += 1
                    this_round.append((i, data))
            if not args.expect_echo and sent % 32 < per_send:
                # Pace one-way bursts a little so a Python sink keeps up.
                time.sleep(0.001)
        if args.expect_echo:
            # Lock-step rounds: wait (bounded) for this round's echoes before the next one,
            # so a burst never overruns a Python echo server; loss is then a real finding.
            # (This round's: one lost earlier is still counted missing at the end, but does
            # not hold every later round for its whole wait.)
            def round_done():
                return all(pending[i][data] == 0 for i, data in this_round)
            drain(min(deadline, time.monotonic() + round_wait), round_done)
            if not round_done():
                # Already failed: finish the run quickly, still counting what comes back.
                round_wait = min(round_wait, 0.2)
    if record:
        record.close()
    if args.expect_echo:
        drain(min(deadline, time.monotonic() + args.round_wait), lambda: outstanding() == 0)
    elif args.expect_none:
        drain(min(deadline, time.monotonic() + args.quiet), None)
    else:
        drain(time.monotonic(), None)
    missing = outstanding()
    got = sum(received)
    if args.expect_echo:
        ok = missing == 0 and foreign == 0 and got == sent and \
            sent == args.count * args.clients * per_send
    elif args.expect_none:
        ok = foreign == 0 and got == 0
    else:
        ok = sent == args.count * args.clients * per_send
    print(json.dumps({"mode": "client", "to": args.to, "clients": args.clients,
                      "sent": sent, "received": got, "missing": missing,
                      "foreign": foreign, "errors": errors, "ok": ok,
                      "ports": ports if len(ports) <= 8 else ports[:8] + ["..."]}), flush=True)
    return 0 if ok else 1


def setns(name):
    """Move this process into network namespace NAME (sockets made before stay where
    they were made)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)


def wait_stopped(pid, timeout=5.0):
    """SIGSTOP takes effect when each thread next reaches user space or sleeps: wait until
    every thread of PID is stopped (state T), so that nothing sent after this is read
    before SIGCONT."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(st in "tT" for st in states):
            return
        time.sleep(0.001)
    raise RuntimeError("process %d did not stop" % pid)


def queued(args):
    fam, host, port = parse_ep(args.to)
    _, uhost, uport = parse_ep(args.upstream)
    up = socket.socket(fam, socket.SOCK_DGRAM)  # in the upstream's namespace
    big_buffers(up)
    up.bind((uhost, uport))
    up.settimeout(5)
    setns(args.client_ns)
    cl = socket.socket(fam, socket.SOCK_DGRAM)
    big_buffers(cl)
    cl.connect((host, port))
    cl.send(b"open")
    _, session = up.recvfrom(64)
    os.kill(args.stop, signal.SIGSTOP)
    try:
        wait_stopped(args.stop)
        data = b"r" * args.size
        for _ in range(args.count):
            if args.socket == "session":
                up.sendto(data, session)
            else:
                cl.send(data)
    finally:
        os.kill(args.stop, signal.SIGCONT)
    rx = cl if args.socket == "session" else up
    rx.settimeout(args.quiet)
    got = 0
    sent = args.count
    try:
        while got < args.count:
            got += len(rx.recv(65536)) == args.size
    except socket.timeout:
        pass
    # Drops at a full socket are reported (SO_RXQ_OVFL) with the next datagram queued there.
    for _ in range(args.tail):
        if args.socket == "session":
            up.sendto(data, session)
        else:
            cl.send(data)
        sent += 1
        try:
            got += len(rx.recv(65536)) == args.size
        except socket.timeout:
            pass
    print(json.dumps({"mode": "queued", "socket": args.socket, "sent": sent,
                      "received": got, "ok": got == sent}), flush=True)
    return 0 if got == sent else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    for name in ("echo", "sink"):
        p = sub.add_parser(name)
        p.add_argument("--bind", required=True)
        p.add_argument("--count", type=int, default=0, help="stop after N datagrams")
        p.add_argument("--seconds", type=float, default=120.0,
                       help="stop after S seconds (times NET_WAIT_SCALE)")
        p.add_argument("--out", help="record one line per datagram")
        p.add_argument("--hold", type=int, default=0,
                       help="echo: send every N datagrams of a peer back as one UDP GSO send")
        p.add_argument("--reply-size", type=int, default=0,
                       help="echo: answer each datagram with N bytes instead of itself")
        p.add_argument("--ready", help="create this file once the socket is bound")
    p = sub.add_parser("client")
    p.add_argument("--to", required=True)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--count", type=int, default=1, help="datagrams per client")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--sizes", help="comma list, cycled per datagram")
    p.add_argument("--expect-echo", action="store_true")
    p.add_argument("--expect-none", action="store_true",
                   help="succeed only if no reply arrives within --quiet seconds")
    p.add_argument("--quiet", type=float, default=0.5)
    p.add_argument("--seconds", type=float, default=20.0, help="overall bound")
    p.add_argument("--round-wait", type=float, default=2.0,
                   help="max wait for one round of echoes")
    p.add_argument("--interval", type=float, default=0.0,
                   help="pause between rounds (keeps sessions busy for a while)")
    p.add_argument("--bind", help="local IP (default wildcard)")
    p.add_argument("--port-base", type=int, default=0,
                   help="client i binds port P+i (default: ephemeral)")
    p.add_argument("--record", help="write the hex of every sent payload, one per line")
    p.add_argument("--gso", type=int, default=0,
                   help="N datagrams of --size bytes per send (UDP_SEGMENT)")
    p = sub.add_parser("queued")
    p.add_argument("--socket", choices=("listener", "session"), required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, default=0, help="bytes per datagram (default: empty)")
    p.add_argument("--tail", type=int, default=0,
                   help="then send this many more, one at a time, once the burst is read")
    p.add_argument("--stop", type=int, required=True, help="the relay's PID")
    p.add_argument("--client-ns", required=True)
    p.add_argument("--quiet", type=float, default=5.0,
                   help="give up after this long without a datagram")
    args = ap.parse_args()
    if args.mode == "client":
        return client(args)
    if args.mode == "queued":
        return queued(args)
    return serve(args, args.mode == "echo")


if __name__ == "__main__":
    sys.exit(main())
