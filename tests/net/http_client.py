#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""http_client.py MODE ...: clients of the daemon's /metrics listener that behave as the
control thread's pool must survive. Every mode ends by itself within its hold time.

  scrape HOST:PORT [--send-after S | --send-when FILE] [--junk] [--rcvbuf B] [--read-after S]
          [--slow]
      connect (prints "connected"), send GET /metrics after S seconds or once FILE exists
      (10 s at most; with --junk, 100 more bytes 50 ms later, as a pipelining client might),
      wait --read-after seconds, read the answer to its end (15 s at most; --slow: 4 KiB
      every 10 ms) and print one word: "complete" (status 200 and as many body bytes as
      Content-Length says), "unavailable" (a whole 503), "short GOT/WANT", "reset GOT",
      "noanswer" (closed before any byte), "bad STATUS-LINE" or "timeout".
  many HOST:PORT N [--send-when FILE]
      open N connections one after the other, each sending its request at once (once FILE
      exists), then read every answer; prints one letter per connection, in order: C
      complete, U a whole 503 answer, N no answer, R reset, S short, B bad, T timeout.
  flood HOST:PORT N HOLD
      open N connections that send nothing, hold them HOLD seconds (prints "open K").
  stall HOST:PORT N HOLD [--rcvbuf B]
      open N connections with a small receive buffer that send a whole request and never
      read their answer, hold them HOLD seconds (prints "sent K").
"""
import argparse
import os
import socket
import sys
import time

REQ = b"GET /metrics?per_worker=1 HTTP/1.0\r\nHost: t\r\n\r\n"


def endpoint(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def conn(ep, rcvbuf=0, timeout=5.0):
    fam = socket.AF_INET6 if ":" in ep[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(ep)
    return s


def verdict(data):
    if not data:
        return "noanswer"
    head, _, body = data.partition(b"\r\n\r\n")
    want = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            want = int(v)
    if head.startswith(b"HTTP/1.0 503") and want == len(body):
        return "unavailable"
    if not head.startswith(b"HTTP/1.0 200") or want is None:
        return "bad " + head.split(b"\r\n")[0].decode(errors="replace")
    return "complete" if len(body) == want else "short %d/%d" % (len(body), want)


def wait_for(path):
    """Returns once path exists (10 s at most); at once without a path."""
    end = time.time() + 10
    while path and time.time() < end and not os.path.exists(path):
        time.sleep(0.02)


def read_all(s, end, slow=False):
    """Reads s to its end (until end): the verdict, or "reset GOT" / "timeout"."""
    data = b""
    s.settimeout(1.0)
    while time.time() < end:
        try:
            b = s.recv(4096 if slow else 65536)
            if slow:
                time.sleep(0.01)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset %d" % len(data)
        if not b:
            return verdict(data)
        data += b
    return "timeout"


def many(a):
    wait_for(a.send_when)
    socks = []
    for _ in range(a.n):
        s = conn(endpoint(a.ep))
        s.sendall(REQ)
        socks.append(s)
    end = time.time() + 15
    print("".join(read_all(s, end)[0].upper() for s in socks), flush=True)


def scrape(a):
    s = conn(endpoint(a.ep), a.rcvbuf)
    print("connected", flush=True)
    time.sleep(a.send_after)
    wait_for(a.send_when)
    s.sendall(REQ)
    if a.junk:
        time.sleep(0.05)
        s.sendall(b"X" * 100)
    time.sleep(a.read_after)
    print(read_all(s, time.time() + 15, a.slow), flush=True)


def hold(a, send):
    socks, end = [], time.time() + a.hold
    for _ in range(a.n):
        try:
            s = conn(endpoint(a.ep), getattr(a, "rcvbuf", 0), timeout=2.0)
            if send:
                s.sendall(REQ)
            socks.append(s)
        except OSError:
            pass
    print(("sent %d" if send else "open %d") % len(socks), flush=True)
    while time.time() < end:
        time.sleep(0.1)
    for s in socks:
        s.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    sc = sub.add_parser("scrape")
    sc.add_argument("ep")
    sc.add_argument("--send-after", type=float, default=0.0)
    sc.add_argument("--send-when")
    sc.add_argument("--read-after", type=float, default=0.0)
    sc.add_argument("--junk", action="store_true")
    sc.add_argument("--rcvbuf", type=int, default=0)
    sc.add_argument("--slow", action="store_true")
    mn = sub.add_parser("many")
    mn.add_argument("ep")
    mn.add_argument("n", type=int)
    mn.add_argument("--send-when")
    fl = sub.add_parser("flood")
    fl.add_argument("ep")
    fl.add_argument("n", type=int)
    fl.add_argument("hold", type=float)
    st = sub.add_parser("stall")
    st.add_argument("ep")
    st.add_argument("n", type=int)
    st.add_argument("hold", type=float)
    st.add_argument("--rcvbuf", type=int, default=2048)
    a = p.parse_args()
    if a.mode == "scrape":
        scrape(a)
    elif a.mode == "many":
        many(a)
    else:
        hold(a, a.mode == "stall")


if __name__ == "__main__":
    sys.exit(main())
