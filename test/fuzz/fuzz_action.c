/*
 * fuzz_action.c: action names and the permission each names.
 *
 * billium has no C validator for action names: the rule is the CHECK of billium.actions,
 * name ~ '^[a-z_]+\.[a-z_]+$', and the gate (src/gate.c) only requires strlen < 64 before
 * looking the name up by exact string in a hash of the loaded catalog, so a name is never
 * parsed.  The fuzz value is therefore low; this target keeps the rule executable in C and
 * fuzzes what is pure C behind an action:
 *   - the input is "name" or "name\npermission";
 *   - valid_action_name (the CHECK plus the length limit, written here) agrees with a second,
 *     differently written formulation of the same rule;
 *   - the permission goes through billium_parse_permission_token, as the gate's catalog load
 *     does (permset_from_token): a success is one or more known bits and nothing reserved;
 *     billium_token_domain never reads past the token;
 *   - the verb of a valid name goes through billium_action_mask: every bit of the result names
 *     a permission whose action part is exactly that verb.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "fuzz_common.h"
#include "parse_permset.h"

#define ACTION_NAME_LEN 64 /* as src/gate.c: names of 64 bytes or more are never found */

static int
lower_or_underscore(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

/* ^[a-z_]+\.[a-z_]+$ and shorter than ACTION_NAME_LEN, as a small state machine. */
static int
valid_action_name(const char *name, size_t len)
{
	int state = 0; /* 0: resource, none yet; 1: resource; 2: after '.'; 3: verb */

	if (len >= ACTION_NAME_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char)name[i];

		if (lower_or_underscore(c))
			state = state == 0 ? 1 : state == 2 ? 3 : state;
		else if (c == '.' && state == 1)
			state = 2;
		else
			return 0;
	}
	return state == 3;
}

/* The same rule, written as "exactly one dot, with a non-empty [a-z_]+ on each side". */
static int
valid_action_name_by_split(const char *name, size_t len)
{
	const char *dot = memchr(name, '.', len);
	size_t left;

	if (len >= ACTION_NAME_LEN || dot == NULL)
		return 0;
	left = (size_t)(dot - name);
	if (left == 0 || left + 1 == len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (i != left && !lower_or_underscore((unsigned char)name[i]))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = (const char *)data;
	const char *newline = memchr(data, '\n', size);
	size_t name_len = newline != NULL ? (size_t)(newline - name) : size;
	int valid = valid_action_name(name, name_len);

	FUZZ_CHECK(valid == valid_action_name_by_split(name, name_len));

	if (newline != NULL)
	{
		const char *permission = newline + 1;
		size_t permission_len = size - name_len - 1;
		uint64_t mask = ~UINT64_C(0);
		const char *domain = billium_token_domain(permission, permission_len);

		if (billium_parse_permission_token(permission, permission_len, &mask) == PERMSET_OK)
		{
			FUZZ_CHECK(mask != 0 && (mask & ~BILLIUM_ALL_PERMISSIONS) == 0);
			/* A named domain's permissions, or "*": the token's domain is known, or it is "*". */
			FUZZ_CHECK(domain != NULL || (permission_len == 1 && permission[0] == '*'));
		}
	}

	if (valid)
	{
		/* billium_action_mask takes a C string: the verb, NUL-terminated. */
		const char *dot = memchr(name, '.', name_len);
		size_t verb_len = name_len - (size_t)(dot + 1 - name);
		char verb[ACTION_NAME_LEN];
		uint64_t mask;

		memcpy(verb, dot + 1, verb_len);
		verb[verb_len] = '\0';
		mask = billium_action_mask(verb);
		FUZZ_CHECK((mask & ~BILLIUM_ALL_PERMISSIONS) == 0);
		for (int bit = 0; bit < BILLIUM_PERMISSION_COUNT; bit++)
		{
			const char *colon = strchr(billium_permissions[bit].name, ':');
			int same = colon != NULL && strcmp(colon + 1, verb) == 0;

			FUZZ_CHECK(same == ((mask & BILLIUM_BIT(bit)) != 0));
		}
	}
	return 0;
}
