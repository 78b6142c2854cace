/* sha256.h — SHA-256 (FIPS 180-4) for verifying downloaded files (layer: store).
 *
 * Written here rather than taken from libcrypto: it is ~100 lines, a core primitive of the store,
 * and keeps the engine free of an OpenSSL link dependency of its own. Streaming: init, any number
 * of updates, final. Tested with the FIPS 180-2 vectors (tests/store/test_sha256.c).
 */
#ifndef KY_STORE_SHA256_H
#define KY_STORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct store_sha256 {
    uint32_t h[8];
    uint64_t n_bytes; /* bytes hashed so far */
    uint8_t buf[64];  /* pending partial block */
    uint32_t n_buf;   /* bytes in buf, < 64 */
} store_sha256;

/* Starts a new hash. */
void store_sha256_init(store_sha256 *s);
/* Hashes n more bytes (data may be NULL when n is 0). */
void store_sha256_update(store_sha256 *s, const void *data, size_t n);
/* Finishes: writes the 32-byte digest; s must be re-initialised before further use. */
void store_sha256_final(store_sha256 *s, uint8_t digest[32]);
/* Finishes and writes the digest as 64 lowercase hex digits and a NUL into hex. */
void store_sha256_final_hex(store_sha256 *s, char hex[65]);

#endif
