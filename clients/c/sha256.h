/*
 * sha256.h -- SHA-256 (FIPS 180-4) in portable C, for optarc-put.
 *
 * No OpenSSL or other library: it builds with any C89 compiler that has
 * <inttypes.h> (Solaris 8 and later, every Linux), and it is independent of
 * the machine's byte order (SPARC is big-endian, x86 little-endian).
 */
#ifndef OPTARC_SHA256_H
#define OPTARC_SHA256_H

#include <stddef.h>
#include <inttypes.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

typedef struct {
	uint32_t state[8];
	uint64_t length;                 /* bytes hashed so far */
	unsigned char block[SHA256_BLOCK_SIZE];
	size_t used;                     /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
void sha256_final(sha256_ctx *ctx, unsigned char digest[SHA256_DIGEST_SIZE]);

/* One-shot convenience. */
void sha256(const void *data, size_t len, unsigned char digest[SHA256_DIGEST_SIZE]);

/* 64 lowercase hex digits and a NUL into out (65 bytes). */
void sha256_hex(const unsigned char digest[SHA256_DIGEST_SIZE], char out[2 * SHA256_DIGEST_SIZE + 1]);

#endif
