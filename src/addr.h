/* SPDX-License-Identifier: MIT */
/* One family-neutral endpoint type. This module is the only place that branches on
 * AF_INET / AF_INET6; everything else passes struct addr around. */
#ifndef RINGRELAY_ADDR_H
#define RINGRELAY_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
};

/* "198.18.1.2:5000", "[2001:2::2]:5000", "*:5000" (IPv4 any) or "[::]:5000".
 * Returns 0, or -EINVAL with a reason in *why (a static string). */
int addr_parse(const char *text, struct addr *out, const char **why);
/* addr_parse for an address that must have a port (a listener, an upstream): port 0 is
 * refused too, and the reason says 1 to 65535. */
int addr_parse_endpoint(const char *text, struct addr *out, const char **why);

/* "HOST:PORT" where HOST is a DNS name (letters, digits, '-', '.', '_'; not all digits) and
 * PORT 1 to 65535: host gets HOST (hostlen bytes at most), port the port. Returns 0, or
 * -EINVAL when text is not of that form (why is set when only the port is wrong). No lookup
 * is made. */
int addr_parse_name(const char *text, char *host, size_t hostlen, uint16_t *port,
		    const char **why);

/* Prefix "198.18.0.0/15", "2001:2::/48" or a bare address (full length). The address is
 * stored IPv4-mapped in 16 bytes and len counts bits of that 128-bit form (IPv4 /24 -> 120).
 * Returns 0, or -EINVAL with a reason in *why. Host bits set are an error. */
struct prefix {
	uint8_t bytes[16];
	uint8_t len;
};
int prefix_parse(const char *text, struct prefix *out, const char **why);
/* The prefix of a route's destination as the kernel gives it: family (AF_INET: 4 bytes of
 * bytes, AF_INET6: 16) and its length in that family's bits. Host bits are cleared. Returns
 * 0, or -EINVAL for another family or a length past the family's. */
int prefix_from_route(struct prefix *out, int family, const void *bytes, unsigned int len);

/* The inverse of prefix_parse: "198.18.0.0/15" for an IPv4-mapped prefix of length >= 96,
 * "2001:2::/48" otherwise. Returns buf (ADDR_STRLEN bytes is enough). */
const char *prefix_format(const struct prefix *p, char *buf, size_t len);

/* Longest form is "[ffff:...:255.255.255.255]:65535" plus NUL. */
#define ADDR_STRLEN 64
/* Formats like addr_parse accepts; returns buf. */
const char *addr_format(const struct addr *a, char *buf, size_t len);
/* The address alone, as addr_parse accepts it: no port, no brackets; returns buf. */
const char *addr_format_host(const struct addr *a, char *buf, size_t len);

socklen_t addr_len(const struct addr *a);
int addr_family(const struct addr *a);
uint16_t addr_port(const struct addr *a);
void addr_set_port(struct addr *a, uint16_t port);
bool addr_is_any(const struct addr *a);
/* An IPv6 address that means something only on one link (link-local, or carrying a scope id):
 * without the interface, the same address may name another host. */
bool addr_is_scoped(const struct addr *a);
/* Same family, address and port. */
bool addr_equal(const struct addr *a, const struct addr *b);
/* Same family and address, port ignored. */
bool addr_equal_host(const struct addr *a, const struct addr *b);
/* A total order for sorting: IPv4 before IPv6, then address, scope and port; <0, 0, >0. */
int addr_cmp(const struct addr *a, const struct addr *b);
/* Copies a kernel-filled sockaddr (from recvmsg) of length len; -EAFNOSUPPORT otherwise. */
int addr_from_sockaddr(struct addr *out, const void *sa, socklen_t len);
/* Hash of address (and port when with_port) with a seed; stable across runs for one seed. */
uint32_t addr_hash(const struct addr *a, bool with_port, uint32_t seed);
/* The 16-byte IPv4-mapped form used by the BPF maps and prefixes. */
void addr_to_mapped(const struct addr *a, uint8_t out[16]);

#endif
