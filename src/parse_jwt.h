/*
 * parse_jwt.h: a compact JWS (header.payload.signature, base64url without padding), split and
 * decoded without the server, so it can be fuzzed on its own.
 */
#ifndef BILLIUM_PARSE_JWT_H
#define BILLIUM_PARSE_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Tokens longer than this are refused before any work: 16 KiB holds any sane session. */
#define BILLIUM_JWT_MAX_LEN 16384

typedef struct JwtSegment
{
	const char *text; /* into the token */
	size_t len;
} JwtSegment;

typedef struct JwtParts
{
	JwtSegment header;
	JwtSegment payload;
	JwtSegment signature;
	size_t signed_len; /* header "." payload: the bytes the signature covers */
} JwtParts;

/* Split into three non-empty base64url segments; 0 when the token is not of that shape. */
extern int billium_jwt_split(const char *token, size_t len, JwtParts *parts);

/*
 * Decode strict base64url (alphabet A-Z a-z 0-9 - _, no padding, no whitespace, canonical final
 * bits) into out, which must hold billium_base64url_decoded_len(len) bytes.  Returns the decoded
 * length, or -1 when the input is not strict base64url.
 */
extern long billium_base64url_decode(const char *in, size_t len, unsigned char *out);

extern size_t billium_base64url_decoded_len(size_t len);

#endif
