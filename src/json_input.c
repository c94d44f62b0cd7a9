/*
 * json_input.c: JSON from outside (request headers, token segments, trusted claims) checked by
 * the server's own JSON parser, which reports failure instead of raising, before jsonb_in (which
 * would raise, quoting the text) ever sees it.  What the parser accepts but jsonb_in or the stack
 * would not is refused here too: nesting deeper than BILLIUM_JSON_MAX_DEPTH (the parser recurses
 * per level), numbers numeric cannot hold (jsonb_in raises 22003), and an object that names a
 * member twice (jsonb keeps the last, another reader of the same text may take the first).
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "json_input.h"

/* Credentials are shallow: PostgREST's headers are flat, a token's claims a level or two. */
#define BILLIUM_JSON_MAX_DEPTH 64

/* A number of at most this many characters, with an exponent of at most 1000, fits numeric. */
#define BILLIUM_JSON_MAX_NUMBER_LEN 1000
#define BILLIUM_JSON_MAX_EXPONENT	1000

#if PG_VERSION_NUM >= 160000
#define SEM_ACTION_RESULT JsonParseErrorType
#define SEM_ACTION_DONE	  return JSON_SUCCESS
#else
#define SEM_ACTION_RESULT void
#define SEM_ACTION_DONE	  return
#endif

typedef struct InputCheck
{
	int depth;			   /* objects and arrays open now */
	int top_level_members; /* members named in the outermost object */
	bool refused;
} InputCheck;

/*
 * Is nesting anywhere deeper than the limit?  Counted outside strings, before the recursive
 * parser runs.  Up to the first lexical error the parser's strings end where these do (at the
 * first quote not escaped by a backslash), so it never nests deeper than counted here.
 */
static bool
nests_too_deep(const char *text, size_t len)
{
	int depth = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char c = text[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > BILLIUM_JSON_MAX_DEPTH)
				return true;
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return false;
}

/* Does a JSON number token (already checked by the lexer) fit numeric? */
static bool
number_fits(const char *token)
{
	const char *e = strpbrk(token, "eE");
	long exponent = 0;

	if (strlen(token) > BILLIUM_JSON_MAX_NUMBER_LEN)
		return false;
	if (e == NULL)
		return true;
	for (e++; *e == '+' || *e == '-' || *e == '0'; e++)
		;
	for (; *e >= '0' && *e <= '9'; e++)
		if ((exponent = exponent * 10 + (*e - '0')) > BILLIUM_JSON_MAX_EXPONENT)
			return false;
	return true;
}

static SEM_ACTION_RESULT
check_open(void *state)
{
	((InputCheck *)state)->depth++;
	SEM_ACTION_DONE;
}

static SEM_ACTION_RESULT
check_close(void *state)
{
	((InputCheck *)state)->depth--;
	SEM_ACTION_DONE;
}

static SEM_ACTION_RESULT
check_member(void *state, char *fname pg_attribute_unused(), bool isnull pg_attribute_unused())
{
	InputCheck *check = (InputCheck *)state;

	if (check->depth == 1)
		check->top_level_members++;
	SEM_ACTION_DONE;
}

static SEM_ACTION_RESULT
check_scalar(void *state, char *token, JsonTokenType type)
{
	if (type == JSON_TOKEN_NUMBER && !number_fits(token))
		((InputCheck *)state)->refused = true;
	SEM_ACTION_DONE;
}

Jsonb *
json_object_quietly(const char *text, size_t len)
{
	JsonLexContext *lex;
	InputCheck check = {0, 0, false};
	JsonSemAction actions;
	Jsonb *json;

	if (memchr(text, '\0', len) != NULL || !pg_verifymbstr(text, (int)len, true) ||
		nests_too_deep(text, len))
		return NULL;
	memset(&actions, 0, sizeof(actions));
	actions.semstate = &check;
	actions.object_start = check_open;
	actions.object_end = check_close;
	actions.array_start = check_open;
	actions.array_end = check_close;
	actions.object_field_start = check_member;
	actions.scalar = check_scalar;
	/* With escapes decoded, \u0000 and broken surrogates are parse errors, not jsonb_in's. */
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *)text, (int)len, GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen((char *)text, (int)len, GetDatabaseEncoding(), true);
#endif
	if (pg_parse_json(lex, &actions) != JSON_SUCCESS || check.refused)
		return NULL;
	json = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	if (!JB_ROOT_IS_OBJECT(json) || (int)JB_ROOT_COUNT(json) != check.top_level_members)
		return NULL;
	return json;
}
