/* SPDX-License-Identifier: MIT */
/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash
 * for tables whose keys the network chooses. Without the 128-bit key, which comes from
 * getrandom, nobody can compute which keys collide, so no client can line its addresses up in
 * one chain; the kernel keys its socket and flow tables the same way (siphash.h, net_secret).
 * Output as in the paper's reference implementation, so its test vectors apply. */
#ifndef RINGRELAY_SIPHASH_H
#define RINGRELAY_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1; /* the key's bytes 0..7 and 8..15, read little-endian */
};

/* The SipHash-2-4 of len bytes at data under key. */
uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

/* A key from getrandom (waits for the kernel's pool only before it is first initialised,
 * early at boot). Returns 0, or -errno when no key can be read (never a weaker key). */
int siphash_key_random(struct siphash_key *key);

#endif
