/*
 * jwt_signature.h: converting a JWS signature to what OpenSSL verifies, pure C with OpenSSL and no
 * server calls, so it can be fuzzed on its own (test/fuzz/fuzz_jwt.c).
 */
#ifndef BILLIUM_JWT_SIGNATURE_H
#define BILLIUM_JWT_SIGNATURE_H

#include <stddef.h>

/* An ES256 signature is r || s, 32 bytes each (RFC 7518 3.4). */
#define BILLIUM_ES256_SIGNATURE_LEN 64

/*
 * The DER encoding OpenSSL verifies of a raw ES256 signature of len bytes, allocated with
 * OPENSSL_malloc (free with OPENSSL_free), its length in *der_len; NULL (and *der_len 0) when
 * the signature is not exactly 64 bytes or OpenSSL fails.
 */
extern unsigned char *billium_es256_der(const unsigned char *signature, size_t len, int *der_len);

#endif
