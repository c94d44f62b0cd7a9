/*
 * fuzz_jwt.c: billium_jwt_split, billium_base64url_decode and billium_es256_der, the token's outer
 * layer.  (The JSON of the header and claims is parsed by the server's own JSON parser,
 * pg_parse_json and jsonb_in, not by billium code: it is not fuzzed here.)
 *
 * Properties, besides "no sanitizer report":
 *   - split: three non-empty segments, without '.', lying in the token in order, joined by
 *     single dots to exactly the token; signed_len covers "header.payload"; refused when the
 *     token is empty, over BILLIUM_JWT_MAX_LEN, holds a NUL or has other than two dots;
 *   - decode (each segment, and the whole input as one segment): the output buffer is exactly
 *     billium_base64url_decoded_len bytes (ASan catches a write past it); a success returns
 *     exactly that many bytes, and re-encoding them with the tiny encoder below gives back the
 *     very same text (strictness: one spelling per byte string);
 *   - a refusal is justified: the text has a character outside the alphabet, a length of 1
 *     mod 4, or non-zero unused bits in its last character;
 *   - ES256's raw signature (billium_es256_der, on each decoded segment and on the whole input
 *     as raw bytes, in buffers of exactly their length): DER only for exactly 64 bytes, and that
 *     DER decodes back to the same r and s; nothing read past the signature (ASan).
 */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "jwt_signature.h"
#include "parse_jwt.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; returns the encoded length. */
static size_t
encode(const unsigned char *in, size_t len, char *out)
{
	size_t n = 0;
	size_t i = 0;

	for (; i + 3 <= len; i += 3)
	{
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
		out[n++] = alphabet[v >> 6 & 63];
		out[n++] = alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32_t v = (uint32_t)in[i] << 16;

		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
	}
	else if (len - i == 2)
	{
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[n++] = alphabet[v >> 18 & 63];
		out[n++] = alphabet[v >> 12 & 63];
		out[n++] = alphabet[v >> 6 & 63];
	}
	return n;
}

static int
value_of(unsigned char c)
{
	const char *at = c == '\0' ? NULL : strchr(alphabet, c);

	return at == NULL ? -1 : (int)(at - alphabet);
}

/* Is text strict base64url, by the definition rather than by decoding? */
static int
strict(const char *text, size_t len)
{
	int last;

	if (len % 4 == 1)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (value_of((unsigned char)text[i]) < 0)
			return 0;
	if (len % 4 == 0)
		return 1;
	last = value_of((unsigned char)text[len - 1]);
	/* 2 characters carry 8 bits (4 unused), 3 carry 16 (2 unused). */
	return (last & (len % 4 == 2 ? 0x0F : 0x03)) == 0;
}

/* The raw-signature path: signature[0..len) in a buffer of exactly len bytes. */
static void
check_es256(const unsigned char *bytes, size_t len)
{
	unsigned char *signature = malloc(len == 0 ? 1 : len);
	unsigned char *der;
	int der_len = -1;

	FUZZ_CHECK(signature != NULL);
	if (len > 0)
		memcpy(signature, bytes, len);
	der = billium_es256_der(signature, len, &der_len);
	if (der != NULL)
	{
		const unsigned char *p = der;
		ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, der_len);
		const BIGNUM *r, *s;
		unsigned char half[32];

		FUZZ_CHECK(len == BILLIUM_ES256_SIGNATURE_LEN && der_len > 0);
		FUZZ_CHECK(sig != NULL && p == der + der_len);
		ECDSA_SIG_get0(sig, &r, &s);
		FUZZ_CHECK(BN_bn2binpad(r, half, 32) == 32 && memcmp(half, signature, 32) == 0);
		FUZZ_CHECK(BN_bn2binpad(s, half, 32) == 32 && memcmp(half, signature + 32, 32) == 0);
		ECDSA_SIG_free(sig);
		OPENSSL_free(der);
	}
	else
		FUZZ_CHECK(der_len == 0);
	free(signature);
}

static void
check_segment(const char *text, size_t len)
{
	size_t want = billium_base64url_decoded_len(len);
	/* Exactly the documented size, so a write past it is an ASan report; malloc(0) is fine. */
	unsigned char *out = malloc(want == 0 ? 1 : want);
	long n;

	FUZZ_CHECK(out != NULL);
	n = billium_base64url_decode(text, len, out);
	FUZZ_CHECK(n >= -1);
	if (n >= 0)
	{
		char *again = malloc(len + 4);

		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK((size_t)n == want);
		FUZZ_CHECK(encode(out, (size_t)n, again) == len);
		FUZZ_CHECK(memcmp(again, text, len) == 0);
		FUZZ_CHECK(strict(text, len));
		check_es256(out, (size_t)n);
		free(again);
	}
	else
		FUZZ_CHECK(!strict(text, len));
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *token = (const char *)data;
	JwtParts parts;
	size_t dots = 0;

	for (size_t i = 0; i < size; i++)
		dots += token[i] == '.';

	memset(&parts, 0, sizeof(parts));
	if (billium_jwt_split(token, size, &parts))
	{
		const JwtSegment *seg[3] = {&parts.header, &parts.payload, &parts.signature};

		FUZZ_CHECK(size > 0 && size <= BILLIUM_JWT_MAX_LEN);
		FUZZ_CHECK(memchr(token, '\0', size) == NULL);
		FUZZ_CHECK(dots == 2);
		FUZZ_CHECK(parts.header.text == token);
		FUZZ_CHECK(parts.payload.text == parts.header.text + parts.header.len + 1);
		FUZZ_CHECK(parts.signature.text == parts.payload.text + parts.payload.len + 1);
		FUZZ_CHECK(parts.signature.text + parts.signature.len == token + size);
		FUZZ_CHECK(parts.signed_len == parts.header.len + 1 + parts.payload.len);
		for (int i = 0; i < 3; i++)
		{
			FUZZ_CHECK(seg[i]->len > 0);
			FUZZ_CHECK(memchr(seg[i]->text, '.', seg[i]->len) == NULL);
			check_segment(seg[i]->text, seg[i]->len);
		}
	}
	else
		FUZZ_CHECK(size == 0 || size > BILLIUM_JWT_MAX_LEN || memchr(token, '\0', size) != NULL ||
				   dots != 2 || token[0] == '.' || token[size - 1] == '.' ||
				   memmem(token, size, "..", 2) != NULL);

	/* The whole input as one segment: every byte value reaches the decoder. */
	check_segment(token, size);
	check_es256(data, size);
	return 0;
}
