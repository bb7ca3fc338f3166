// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* A port from lo (0 or 1) to 65535; the reason names the range the caller allows. */
static int parse_port(const char *s, long lo, uint16_t *port, const char **why)
{
	char *end;
	long v;

	if (*s == '\0') {
		*why = "missing port after ':'";
		return -EINVAL;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno || v < lo || v > 65535 || *s == '-' || *s == '+') {
		*why = lo ? "port must be a number from 1 to 65535"
			  : "port must be a number from 0 to 65535";
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

/* Fills out from a host string (no brackets) or fails. */
static int parse_host(const char *host, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* addr_parse, with ports from lo. */
static int parse_endpoint(const char *text, long lo, struct addr *out, const char **why)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	uint16_t port;
	size_t n;
	int err;

	*why = NULL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close) {
			*why = "missing ']' after an IPv6 address";
			return -EINVAL;
		}
		if (close[1] != ':') {
			*why = "expected ':PORT' after ']'";
			return -EINVAL;
		}
		n = (size_t)(close - text - 1);
		port_s = close + 2;
		if (n >= sizeof(host) || n == 0) {
			*why = "not an IPv6 address";
			return -EINVAL;
		}
		memcpy(host, text + 1, n);
		host[n] = '\0';
		err = parse_host(host, out);
		if (err || out->sa.sa_family != AF_INET6) {
			*why = "not an IPv6 address";
			return -EINVAL;
		}
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			*why = "expected ADDRESS:PORT";
			return -EINVAL;
		}
		if (memchr(text, ':', (size_t)(colon - text))) {
			*why = "an IPv6 address needs brackets: [ADDRESS]:PORT";
			return -EINVAL;
		}
		n = (size_t)(colon - text);
		port_s = colon + 1;
		if (n >= sizeof(host) || n == 0) {
			*why = "not an IPv4 address";
			return -EINVAL;
		}
		memcpy(host, text, n);
		host[n] = '\0';
		if (strcmp(host, "*") == 0) {
			memset(out, 0, sizeof(*out));
			out->in4.sin_family = AF_INET;
		} else if (parse_host(host, out) || out->sa.sa_family != AF_INET) {
			*why = "not an IPv4 address";
			return -EINVAL;
		}
	}
	err = parse_port(port_s, lo, &port, why);
	if (err)
		return err;
	addr_set_port(out, port);
	return 0;
}

int addr_parse(const char *text, struct addr *out, const char **why)
{
	return parse_endpoint(text, 0, out, why);
}

int addr_parse_endpoint(const char *text, struct addr *out, const char **why)
{
	return parse_endpoint(text, 1, out, why);
}

int addr_parse_name(const char *text, char *host, size_t hostlen, uint16_t *port,
		    const char **why)
{
	const char *colon = strrchr(text, ':'), *c;
	bool letter = false;
	size_t n;

	*why = NULL;
	if (!colon || text[0] == '[' || memchr(text, ':', (size_t)(colon - text)))
		return -EINVAL;
	n = (size_t)(colon - text);
	if (n == 0 || n > 253 || n >= hostlen)
		return -EINVAL;
	/* Letters, digits, '-' and '.', and not a number: "1.2.3" is a bad address, not a name. */
	for (c = text; c < colon; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_'))
			return -EINVAL;
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '-' || *c == '_')
			letter = true;
	}
	if (!letter || text[0] == '.' || text[0] == '-')
		return -EINVAL;
	if (parse_port(colon + 1, 1, port, why))
		return -EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	return 0;
}

int prefix_from_route(struct prefix *out, int family, const void *bytes, unsigned int len)
{
	struct addr a = { 0 };
	unsigned int i, max = family == AF_INET ? 32 : 128;

	if ((family != AF_INET && family != AF_INET6) || len > max)
		return -EINVAL;
	a.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET)
		memcpy(&a.in4.sin_addr, bytes, 4);
	else
		memcpy(&a.in6.sin6_addr, bytes, 16);
	addr_to_mapped(&a, out->bytes);
	out->len = (uint8_t)(len + (128 - max));
	for (i = out->len; i < 128; i++)
		out->bytes[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return 0;
}

int prefix_parse(const char *text, struct prefix *out, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	struct addr a;
	long bits, max;
	char *end;
	int i;

	*why = NULL;
	if (n == 0 || n >= sizeof(host)) {
		*why = "expected ADDRESS/LENGTH";
		return -EINVAL;
	}
	memcpy(host, text, n);
	host[n] = '\0';
	if (parse_host(host, &a)) {
		*why = "not an IPv4 or IPv6 address";
		return -EINVAL;
	}
	max = a.sa.sa_family == AF_INET ? 32 : 128;
	bits = max;
	if (slash) {
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno || bits < 0 || bits > max ||
		    slash[1] == '-' || slash[1] == '+') {
			*why = max == 32 ? "prefix length must be 0 to 32"
					 : "prefix length must be 0 to 128";
			return -EINVAL;
		}
	}
	addr_to_mapped(&a, out->bytes);
	out->len = (uint8_t)(bits + (128 - max));
	for (i = out->len; i < 128; i++) {
		if (out->bytes[i / 8] & (0x80 >> (i % 8))) {
			*why = "host bits are set after the prefix length";
			return -EINVAL;
		}
	}
	return 0;
}

const char *prefix_format(const struct prefix *p, char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char host[INET6_ADDRSTRLEN];

	if (p->len >= 96 && memcmp(p->bytes, mapped, sizeof(mapped)) == 0) {
		inet_ntop(AF_INET, p->bytes + 12, host, sizeof(host));
		snprintf(buf, len, "%s/%u", host, p->len - 96u);
	} else {
		inet_ntop(AF_INET6, p->bytes, host, sizeof(host));
		snprintf(buf, len, "%s/%u", host, p->len);
	}
	return buf;
}

const char *addr_format_host(const struct addr *a, char *buf, size_t len)
{
	if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
		snprintf(buf, len, "(none)");
	else if (!inet_ntop(a->sa.sa_family,
			    a->sa.sa_family == AF_INET ? (const void *)&a->in4.sin_addr
						       : (const void *)&a->in6.sin6_addr,
			    buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *addr_format(const struct addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	addr_format_host(a, host, sizeof(host));
	if (a->sa.sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", host, addr_port(a));
	else if (a->sa.sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, addr_port(a));
	else
		snprintf(buf, len, "%s", host);
	return buf;
}

socklen_t addr_len(const struct addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in4);
}

int addr_family(const struct addr *a)
{
	return a->sa.sa_family;
}

uint16_t addr_port(const struct addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in4.sin_port);
}

void addr_set_port(struct addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in4.sin_port = htons(port);
}

bool addr_is_any(const struct addr *a)
{
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
	return a->in4.sin_addr.s_addr == htonl(INADDR_ANY);
}

bool addr_is_scoped(const struct addr *a)
{
	const struct in6_addr *v6 = &a->in6.sin6_addr;

	return a->sa.sa_family == AF_INET6 &&
	       (IN6_IS_ADDR_LINKLOCAL(v6) || IN6_IS_ADDR_MC_LINKLOCAL(v6) || a->in6.sin6_scope_id);
}

bool addr_equal_host(const struct addr *a, const struct addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	/* Link-local peers on different interfaces are different peers. */
	if (a->sa.sa_family == AF_INET6)
		return memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0 &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id;
	return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
}

int addr_cmp(const struct addr *a, const struct addr *b)
{
	int d;

	if (a->sa.sa_family != b->sa.sa_family)
		return a->sa.sa_family == AF_INET ? -1 : 1;
	if (a->sa.sa_family == AF_INET6) {
		d = memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
		if (!d && a->in6.sin6_scope_id != b->in6.sin6_scope_id)
			d = a->in6.sin6_scope_id < b->in6.sin6_scope_id ? -1 : 1;
	} else {
		d = memcmp(&a->in4.sin_addr, &b->in4.sin_addr, 4);
	}
	if (d)
		return d;
	return (int)addr_port(a) - (int)addr_port(b);
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return addr_equal_host(a, b) && addr_port(a) == addr_port(b);
}

int addr_from_sockaddr(struct addr *out, const void *sa, socklen_t len)
{
	const struct sockaddr *s = sa;

	memset(out, 0, sizeof(*out));
	if (len >= sizeof(struct sockaddr_in) && s->sa_family == AF_INET) {
		memcpy(&out->in4, sa, sizeof(out->in4));
		return 0;
	}
	if (len >= sizeof(struct sockaddr_in6) && s->sa_family == AF_INET6) {
		memcpy(&out->in6, sa, sizeof(out->in6));
		out->in6.sin6_flowinfo = 0;
		return 0;
	}
	return -EAFNOSUPPORT;
}

void addr_to_mapped(const struct addr *a, uint8_t out[16])
{
	if (a->sa.sa_family == AF_INET6) {
		memcpy(out, &a->in6.sin6_addr, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, &a->in4.sin_addr, 4);
}

/* 32-bit murmur3 finaliser over the mapped address words: cheap, well mixed, and the same
 * for an IPv4 address whichever socket family carried it. */
static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

uint32_t addr_hash(const struct addr *a, bool with_port, uint32_t seed)
{
	uint8_t m[16];
	uint32_t w, h = seed ^ 0x9e3779b9u;
	int i;

	addr_to_mapped(a, m);
	for (i = 0; i < 16; i += 4) {
		memcpy(&w, m + i, 4);
		h = mix32(h ^ w) * 5 + 0xe6546b64u;
	}
	if (with_port)
		h = mix32(h ^ addr_port(a));
	return mix32(h);
}
