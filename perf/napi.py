#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Show and set an interface's NAPI instances through the "netdev" generic netlink family.

    napi.py show IFNAME              one JSON line per NAPI instance of IFNAME
    napi.py pids IFNAME              PIDs of IFNAME's NAPI threads (threaded NAPI), one a line
    napi.py set IFNAME KEY=VALUE...  NAPI_SET on every NAPI instance of IFNAME; keys:
                                     defer_hard_irqs, gro_flush_timeout (ns),
                                     irq_suspend_timeout (ns), threaded (0/1)

Works in the network namespace it runs in (`ip netns exec NS napi.py ...`). NAPI_GET needs
Linux 6.8 (the thread's pid 6.9), NAPI_SET and the per-NAPI settings 6.13, per-NAPI threaded
6.18. Before 6.9 (no pid attribute) `pids` finds the thread by its name napi/IFNAME-ID, which
is unique because NAPI ids are unique across namespaces (the name alone is not: another
namespace may have a d0 too). Without NAPI_SET, use the per-device files in
/sys/class/net/IFNAME/ (threaded, napi_defer_hard_irqs, gro_flush_timeout)."""
import json
import os
import socket
import struct
import sys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 3, 1, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NETDEV_CMD_NAPI_GET, NETDEV_CMD_NAPI_SET = 11, 14
# NETDEV_A_NAPI_*: name, netlink type id, payload format.
NAPI_ATTRS = {
    "ifindex": (1, "I"), "id": (2, "I"), "irq": (3, "I"), "pid": (4, "I"),
    "defer_hard_irqs": (5, "I"), "gro_flush_timeout": (6, "Q"),
    "irq_suspend_timeout": (7, "Q"), "threaded": (8, "I"),
}
BY_TYPE = {t: (name, fmt) for name, (t, fmt) in NAPI_ATTRS.items()}


def nla(atype, payload):
    n = 4 + len(payload)
    return struct.pack("HH", n, atype) + payload + b"\0" * (-n % 4)


def nla_parse(buf):
    out, i = {}, 0
    while i + 4 <= len(buf):
        n, atype = struct.unpack_from("HH", buf, i)
        if n < 4:
            break
        out[atype & 0x3FFF] = buf[i + 4:i + n]
        i += (n + 3) & ~3
    return out


class Genl:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.seq = 0

    def request(self, family, cmd, attrs, flags):
        """Sends one request and returns the attribute dicts of the replies; raises OSError
        with the kernel's errno."""
        self.seq += 1
        body = struct.pack("BBH", cmd, 1, 0) + b"".join(attrs)
        self.sock.send(struct.pack("IHHII", 16 + len(body), family, flags | NLM_F_REQUEST,
                                   self.seq, 0) + body)
        replies = []
        while True:
            data = self.sock.recv(1 << 20)
            i = 0
            while i < len(data):
                n, mtype = struct.unpack_from("IH", data, i)
                if mtype == NLMSG_ERROR:
                    err = struct.unpack_from("i", data, i + 16)[0]
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return replies
                if mtype == NLMSG_DONE:
                    return replies
                replies.append(nla_parse(data[i + 20:i + n]))
                i += (n + 3) & ~3
            if not flags & (NLM_F_DUMP | NLM_F_ACK):
                return replies

    def family(self, name):
        r = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                         [nla(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0")], 0)
        return struct.unpack("H", r[0][CTRL_ATTR_FAMILY_ID][:2])[0]


def napi_list(genl, fam, ifname):
    ifindex = socket.if_nametoindex(ifname)
    rows = []
    for m in genl.request(fam, NETDEV_CMD_NAPI_GET,
                          [nla(NAPI_ATTRS["ifindex"][0], struct.pack("I", ifindex))],
                          NLM_F_DUMP):
        row = {"ifname": ifname}
        for atype, payload in m.items():
            if atype in BY_TYPE:
                # u32 or netlink "uint" (4 or 8 bytes, whichever holds the value).
                row[BY_TYPE[atype][0]] = int.from_bytes(payload[:8], sys.byteorder)
        rows.append(row)
    return rows


def thread_by_name(ifname, napi_id):
    want = f"napi/{ifname}-{napi_id}"
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == want:
                        return int(pid)
            except OSError:
                pass
    return None


def main(argv):
    if len(argv) < 3 or argv[1] not in ("show", "pids", "set"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    cmd, ifname = argv[1], argv[2]
    try:
        genl = Genl()
        fam = genl.family("netdev")
        rows = napi_list(genl, fam, ifname)
        if cmd == "show":
            for r in rows:
                print(json.dumps(r))
        elif cmd == "pids":
            for r in rows:
                pid = r.get("pid") or thread_by_name(ifname, r["id"])
                if pid:
                    print(pid)
        else:
            sets = []
            for kv in argv[3:]:
                key, _, val = kv.partition("=")
                if key not in NAPI_ATTRS or key in ("ifindex", "id", "irq", "pid"):
                    print(f"napi: {key}: not a setting", file=sys.stderr)
                    return 2
                atype, fmt = NAPI_ATTRS[key]
                sets.append(nla(atype, struct.pack(fmt, int(val))))
            if not rows:
                print(f"napi: {ifname} has no NAPI instance (veth: needs GRO or XDP)",
                      file=sys.stderr)
                return 1
            for r in rows:
                genl.request(fam, NETDEV_CMD_NAPI_SET,
                             [nla(NAPI_ATTRS["id"][0], struct.pack("I", r["id"]))] + sets,
                             NLM_F_ACK)
    except OSError as e:
        print(f"napi: {cmd} {ifname}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
