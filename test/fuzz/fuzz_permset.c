/*
 * fuzz_permset.c: billium_parse_permset, the text input of billium_permset.
 *
 * Properties, besides "no sanitizer report":
 *   - a parsed set holds no reserved bit (34-63);
 *   - round trip: the names of its bits, written "{a,b}" from billium_permissions[] (the
 *     canonical output, serialised here independently of permset.c), parse back to the same
 *     mask, and so do "{ a , b }" with blanks and the same names in reverse order;
 *   - a refusal points at a token that lies inside the input;
 *   - every single element (billium_parse_permission_token) agrees with the whole-set parser on
 *     "{token}".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "fuzz_common.h"
#include "parse_permset.h"

/* "{merchant:view,invoice:view}" or, spaced, "{ merchant:view , invoice:view }". */
static char *
serialise(uint64_t mask, int spaced, int reversed)
{
	size_t cap = 4;
	char *out;
	size_t n = 0;

	for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
		cap += strlen(billium_permissions[bit].name) + 4;
	out = malloc(cap);
	FUZZ_CHECK(out != NULL);
	out[n++] = '{';
	for (int i = 0, first = 1; i < BILLIUM_PERMISSION_COUNT; i++)
	{
		int bit = reversed ? BILLIUM_PERMISSION_COUNT - 1 - i : i;
		size_t len;

		if (!(mask & BILLIUM_BIT(bit)))
			continue;
		if (!first)
		{
			if (spaced)
				out[n++] = ' ';
			out[n++] = ',';
		}
		if (spaced)
			out[n++] = ' ';
		len = strlen(billium_permissions[bit].name);
		memcpy(out + n, billium_permissions[bit].name, len);
		n += len;
		first = 0;
	}
	out[n++] = '}';
	out[n] = '\0';
	return out;
}

static void
check_round_trip(uint64_t mask)
{
	for (int variant = 0; variant < 3; variant++)
	{
		char *text = serialise(mask, variant == 1, variant == 2);
		uint64_t again = ~UINT64_C(0);
		PermsetParseError error;

		FUZZ_CHECK(billium_parse_permset(text, &again, &error) == PERMSET_OK);
		FUZZ_CHECK(again == mask);
		free(text);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The server hands the parser a NUL-terminated cstring: an embedded NUL ends it there. */
	char *input = malloc(size + 1);
	size_t len;
	uint64_t mask = ~UINT64_C(0);
	PermsetParseError error = {NULL, 0};
	PermsetParseStatus status;

	FUZZ_CHECK(input != NULL);
	memcpy(input, data, size);
	input[size] = '\0';
	len = strlen(input);

	status = billium_parse_permset(input, &mask, &error);
	if (status == PERMSET_OK)
	{
		FUZZ_CHECK((mask & ~BILLIUM_ALL_PERMISSIONS) == 0);
		check_round_trip(mask);
	}
	else
	{
		FUZZ_CHECK(status >= PERMSET_MISSING_OPEN_BRACE && status <= PERMSET_NESTED_BRACE);
		FUZZ_CHECK(error.token != NULL);
		FUZZ_CHECK(error.token >= input && error.token <= input + len);
		FUZZ_CHECK(error.token_len <= (size_t)(input + len - error.token));
		/* What an error message does with the token: look up the domain it reached for. */
		(void)billium_token_domain(error.token, error.token_len);
	}

	/* The whole input as one element, counted (no NUL needed). */
	{
		uint64_t element = ~UINT64_C(0);
		PermsetParseStatus one = billium_parse_permission_token((const char *)data, size, &element);

		(void)billium_token_domain((const char *)data, size);
		if (one == PERMSET_OK)
		{
			char *wrapped = malloc(size + 3);
			uint64_t whole = ~UINT64_C(0);

			FUZZ_CHECK(element != 0 && (element & ~BILLIUM_ALL_PERMISSIONS) == 0);
			FUZZ_CHECK(wrapped != NULL);
			wrapped[0] = '{';
			memcpy(wrapped + 1, data, size);
			wrapped[size + 1] = '}';
			wrapped[size + 2] = '\0';
			FUZZ_CHECK(billium_parse_permset(wrapped, &whole, &error) == PERMSET_OK);
			FUZZ_CHECK(whole == element);
			free(wrapped);
		}
		else
			FUZZ_CHECK(one == PERMSET_UNKNOWN_PERMISSION);
	}

	free(input);
	return 0;
}
