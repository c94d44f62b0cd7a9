/*
 * parse_jwt.c: JWS compact serialization, pure C.  Strict on purpose: a token has exactly one
 * canonical spelling, so an altered token can never decode to the same bytes.
 */
#include "parse_jwt.h"

#include <string.h>

static int
base64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t
billium_base64url_decoded_len(size_t len)
{
	return len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
}

long
billium_base64url_decode(const char *in, size_t len, unsigned char *out)
{
	uint32_t bits = 0;
	int nbits = 0;
	size_t written = 0;

	if (len % 4 == 1) /* a single leftover character carries no whole byte */
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		int v = base64url_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 8)
		{
			nbits -= 8;
			out[written++] = (unsigned char)(bits >> nbits);
			bits &= (1u << nbits) - 1;
		}
	}
	/* Canonical: the unused low bits of the last character must be zero. */
	if (bits != 0)
		return -1;
	return (long)written;
}

int
billium_jwt_split(const char *token, size_t len, JwtParts *parts)
{
	const char *first;
	const char *second;

	if (len == 0 || len > BILLIUM_JWT_MAX_LEN || memchr(token, '\0', len) != NULL)
		return 0;
	first = memchr(token, '.', len);
	if (first == NULL)
		return 0;
	second = memchr(first + 1, '.', len - (size_t)(first + 1 - token));
	if (second == NULL || memchr(second + 1, '.', len - (size_t)(second + 1 - token)) != NULL)
		return 0;

	parts->header.text = token;
	parts->header.len = (size_t)(first - token);
	parts->payload.text = first + 1;
	parts->payload.len = (size_t)(second - first - 1);
	parts->signature.text = second + 1;
	parts->signature.len = len - (size_t)(second + 1 - token);
	parts->signed_len = (size_t)(second - token);
	return parts->header.len > 0 && parts->payload.len > 0 && parts->signature.len > 0;
}
