/*
 * sha256_test -- checks sha256.c against the FIPS 180-4 / NIST test vectors,
 * and that feeding the data in pieces of any size gives the one-shot digest.
 *
 *   sha256_test [--long]       run the vectors (--long adds NIST's 1 GiB
 *                              message, a few seconds); prints "ok N checks"
 *   sha256_test --lengths N    for n = 0..N print "<n> <hex>" for the n bytes
 *                              b[i] = (i * 7 + 3) & 0xff (for cross-checks
 *                              with another implementation)
 *   sha256_test FILE...        print "<hex>  FILE" like sha256sum
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

struct vector {
	const char *data;
	unsigned long repeat;
	const char *hex;
};

static const struct vector VECTORS[] = {
	{ "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 1,
	  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	{ "The quick brown fox jumps over the lazy dog", 1,
	  "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592" },
	{ "a", 1000000UL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
	/* 16,777,216 repetitions of a 64-byte string: 1 GiB, the length spans 2^30 bits */
	{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno", 16777216UL,
	  "50e72a0e26442fe2552dc3938ac58658228c0cbfb1d2ca872ae435266fcd055e" },
};

static void pattern(unsigned char *b, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 7 + 3) & 0xff);
}

static int run_vectors(int with_long)
{
	size_t i;
	int failed = 0, count = 0;
	char hex[65];
	unsigned char d[SHA256_DIGEST_SIZE], one[SHA256_DIGEST_SIZE];
	unsigned char buf[1000];

	for (i = 0; i < sizeof VECTORS / sizeof VECTORS[0]; i++) {
		const struct vector *v = &VECTORS[i];
		size_t len = strlen(v->data);
		unsigned long r;
		sha256_ctx ctx;
		if (v->repeat * len > 100000000UL && !with_long)
			continue;
		sha256_init(&ctx);
		for (r = 0; r < v->repeat; r++)
			sha256_update(&ctx, v->data, len);
		sha256_final(&ctx, d);
		sha256_hex(d, hex);
		count++;
		if (strcmp(hex, v->hex) != 0) {
			printf("FAIL vector %u: got %s, want %s\n", (unsigned)i, hex, v->hex);
			failed++;
		}
	}

	/* every length around the padding boundaries, fed in every piece size */
	pattern(buf, sizeof buf);
	for (i = 0; i <= 300; i++) {
		size_t piece;
		sha256(buf, i, one);
		for (piece = 1; piece <= 130; piece++) {
			sha256_ctx ctx;
			size_t at;
			sha256_init(&ctx);
			for (at = 0; at < i; at += piece)
				sha256_update(&ctx, buf + at, (i - at < piece) ? i - at : piece);
			sha256_final(&ctx, d);
			if (memcmp(d, one, sizeof d) != 0) {
				printf("FAIL length %u in pieces of %u\n", (unsigned)i, (unsigned)piece);
				failed++;
			}
			count++;
		}
	}
	if (failed) {
		printf("%d of %d checks failed\n", failed, count);
		return 1;
	}
	printf("ok %d checks\n", count);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 1)
		return run_vectors(0);
	if (argc == 2 && strcmp(argv[1], "--long") == 0)
		return run_vectors(1);
	if (argc == 3 && strcmp(argv[1], "--lengths") == 0) {
		size_t n = (size_t)strtoul(argv[2], NULL, 10), i;
		unsigned char *b = malloc(n + 1), d[SHA256_DIGEST_SIZE];
		char hex[65];
		if (b == NULL)
			return 1;
		pattern(b, n);
		for (i = 0; i <= n; i++) {
			sha256(b, i, d);
			sha256_hex(d, hex);
			printf("%u %s\n", (unsigned)i, hex);
		}
		free(b);
		return 0;
	}
	{
		int i, rc = 0;
		for (i = 1; i < argc; i++) {
			FILE *f = fopen(argv[i], "rb");
			unsigned char buf[65536], d[SHA256_DIGEST_SIZE];
			char hex[65];
			size_t n;
			sha256_ctx ctx;
			if (f == NULL) {
				perror(argv[i]);
				rc = 1;
				continue;
			}
			sha256_init(&ctx);
			while ((n = fread(buf, 1, sizeof buf, f)) > 0)
				sha256_update(&ctx, buf, n);
			fclose(f);
			sha256_final(&ctx, d);
			sha256_hex(d, hex);
			printf("%s  %s\n", hex, argv[i]);
		}
		return rc;
	}
}
