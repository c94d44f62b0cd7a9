/*
 * parse_permset.c: pure parser for billium_permset's text form; no server calls, so it can be
 * fuzzed on its own.
 */
#include "parse_permset.h"

#include <string.h>

#include "catalog.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const char *
skip_spaces(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

PermsetParseStatus
billium_parse_permission_token(const char *token, size_t len, uint64_t *mask)
{
	int bit;

	if (len == 1 && token[0] == '*')
	{
		*mask = BILLIUM_ALL_PERMISSIONS;
		return PERMSET_OK;
	}
	if (len > 2 && token[len - 2] == ':' && token[len - 1] == '*')
	{
		*mask = billium_domain_mask(token, len - 2);
		return *mask != 0 ? PERMSET_OK : PERMSET_UNKNOWN_PERMISSION;
	}
	bit = billium_permission_lookup(token, len);
	if (bit < 0)
		return PERMSET_UNKNOWN_PERMISSION;
	*mask = BILLIUM_BIT(bit);
	return PERMSET_OK;
}

const char *
billium_token_domain(const char *token, size_t len)
{
	const char *colon = memchr(token, ':', len);
	size_t domain_len = colon != NULL ? (size_t)(colon - token) : len;

	for (int i = 0; i < BILLIUM_DOMAIN_COUNT; i++)
		if (strlen(billium_domains[i]) == domain_len &&
			memcmp(billium_domains[i], token, domain_len) == 0)
			return billium_domains[i];
	return NULL;
}

static PermsetParseStatus
fail(PermsetParseError *error, PermsetParseStatus status, const char *token, size_t len)
{
	error->token = token;
	error->token_len = len;
	return status;
}

PermsetParseStatus
billium_parse_permset(const char *input, uint64_t *mask, PermsetParseError *error)
{
	const char *p = skip_spaces(input);
	uint64_t result = 0;

	if (*p != '{')
		return fail(error, PERMSET_MISSING_OPEN_BRACE, p, strlen(p));
	p = skip_spaces(p + 1);

	if (*p != '}')
	{
		for (;;)
		{
			const char *start = p;
			const char *end;
			uint64_t element;

			/* An element runs to the next separator; trailing blanks are not part of it. */
			while (*p != '\0' && *p != ',' && *p != '}' && *p != '{')
				p++;
			end = p;
			while (end > start && is_space(end[-1]))
				end--;

			if (*p == '{')
				return fail(error, PERMSET_NESTED_BRACE, p, 1);
			if (*p == '\0')
				return fail(error, PERMSET_MISSING_CLOSE_BRACE, start, (size_t)(end - start));
			if (end == start)
				return fail(error, PERMSET_EMPTY_ELEMENT, start, 0);
			if (billium_parse_permission_token(start, (size_t)(end - start), &element) !=
				PERMSET_OK)
				return fail(error, PERMSET_UNKNOWN_PERMISSION, start, (size_t)(end - start));
			result |= element;

			if (*p == '}')
				break;
			p = skip_spaces(p + 1); /* past "," */
		}
	}

	p = skip_spaces(p + 1); /* past "}" */
	if (*p != '\0')
		return fail(error, PERMSET_TRAILING_GARBAGE, p, strlen(p));

	*mask = result;
	return PERMSET_OK;
}
