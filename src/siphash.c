// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "siphash.h"

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

/* One 8-byte message word: c = 2 compression rounds. */
static inline void sip_word(struct sip_state *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len)
{
	struct sip_state s = {
		.v0 = key->k0 ^ 0x736f6d6570736575ull,
		.v1 = key->k1 ^ 0x646f72616e646f6dull,
		.v2 = key->k0 ^ 0x6c7967656e657261ull,
		.v3 = key->k1 ^ 0x7465646279746573ull,
	};
	const uint8_t *p = data, *end = p + (len & ~(size_t)7);
	uint8_t tail[8] = { 0 };

	for (; p != end; p += 8)
		sip_word(&s, load_le64(p));
	/* The last word holds the remaining bytes and, in its top byte, the length mod 256. */
	memcpy(tail, p, len & 7);
	tail[7] = (uint8_t)len;
	sip_word(&s, load_le64(tail));
	/* d = 4 finalisation rounds. */
	s.v2 ^= 0xff;
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

int siphash_key_random(struct siphash_key *key)
{
	uint8_t buf[16];
	size_t got = 0;
	ssize_t n;

	/* Flags 0: block until the pool is initialised (a moment at boot, never after), rather
	 * than fail or settle for a guessable key. */
	while (got < sizeof(buf)) {
		n = getrandom(buf + got, sizeof(buf) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	key->k0 = load_le64(buf);
	key->k1 = load_le64(buf + 8);
	memset(buf, 0, sizeof(buf));
	return 0;
}
