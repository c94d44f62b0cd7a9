/*
 * json_input.c: checked by the server's own JSON parser, which reports failure instead of
 * raising, before jsonb_in (which would raise, quoting the text) ever sees it.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "json_input.h"

Jsonb *
json_object_quietly(const char *text, size_t len)
{
	JsonLexContext *lex;
	Jsonb *json;

	if (memchr(text, '\0', len) != NULL || !pg_verifymbstr(text, (int)len, true))
		return NULL;
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *)text, (int)len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen((char *)text, (int)len, PG_UTF8, true);
#endif
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	json = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	return JB_ROOT_IS_OBJECT(json) ? json : NULL;
}
