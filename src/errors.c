/*
 * errors.c: the envelope codes, their HTTP statuses and SQLSTATEs, and the one function that
 * raises them.  Messages never contain the key or token that was presented.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "catalog_sql.h"
#include "errors.h"

typedef struct BilliumErrorInfo
{
	const char *code;
	int http_status;
	int sqlstate;
	const char *message;
} BilliumErrorInfo;

#define SQLSTATE_28000 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION
#define SQLSTATE_42501 ERRCODE_INSUFFICIENT_PRIVILEGE
#define SQLSTATE_53400 ERRCODE_CONFIGURATION_LIMIT_EXCEEDED

static const BilliumErrorInfo errors[BE_ERROR_COUNT] = {
	[BE_API_KEY_MISSING] = {"API_KEY_MISSING", 401, SQLSTATE_28000, "no API key was presented"},
	[BE_API_KEY_MALFORMED] = {"API_KEY_MALFORMED", 401, SQLSTATE_28000, "the API key is malformed"},
	[BE_API_KEY_INVALID] = {"API_KEY_INVALID", 401, SQLSTATE_28000, "the API key is not valid"},
	[BE_API_KEY_REVOKED] = {"API_KEY_REVOKED", 401, SQLSTATE_28000, "the API key has been revoked"},
	[BE_API_KEY_EXPIRED] = {"API_KEY_EXPIRED", 401, SQLSTATE_28000, "the API key has expired"},
	[BE_API_KEY_LEAKED] = {"API_KEY_LEAKED", 401, SQLSTATE_28000,
						   "the API key was revoked because it was reported leaked"},
	[BE_PERMISSION_DENIED] = {"PERMISSION_DENIED", 403, SQLSTATE_42501,
							  "the caller lacks the permission this action requires"},
	[BE_SECRET_KEY_REQUIRED] = {"SECRET_KEY_REQUIRED", 403, SQLSTATE_42501,
								"this action requires a secret key"},
	[BE_MERCHANT_MISMATCH] = {"MERCHANT_MISMATCH", 403, SQLSTATE_42501,
							  "the API key belongs to another merchant"},
	[BE_NOT_A_TEAM_MEMBER] = {"NOT_A_TEAM_MEMBER", 403, SQLSTATE_42501,
							  "the user is not a member of this merchant's team"},
	[BE_RATE_LIMITED] = {"RATE_LIMITED", 429, SQLSTATE_53400,
						 "too many requests for this merchant's API keys"},
	[BE_SESSION_INVALID] = {"SESSION_INVALID", 401, SQLSTATE_28000,
							"the dashboard session is not valid"},
	[BE_SESSION_EXPIRED] = {"SESSION_EXPIRED", 401, SQLSTATE_28000,
							"the dashboard session has expired"},
	[BE_SECURITY_REQUIREMENT_NOT_MET] = {"SECURITY_REQUIREMENT_NOT_MET", 403, SQLSTATE_42501,
										 "the team requires security factors this user has not "
										 "enabled"},
	[BE_PRINCIPAL_CONFLICT] = {"PRINCIPAL_CONFLICT", 400, SQLSTATE_28000,
							   "a transaction presents an API key or a dashboard session, not "
							   "both"},
};

/* billium.error_style: the server's SQLSTATEs, or PostgREST's PTnnn (which it answers as HTTP nnn).
 */
typedef enum ErrorStyle
{
	ERROR_STYLE_STANDARD,
	ERROR_STYLE_POSTGREST
} ErrorStyle;

static const struct config_enum_entry error_styles[] = {
	{"standard", ERROR_STYLE_STANDARD, false},
	{"postgrest", ERROR_STYLE_POSTGREST, false},
	{NULL, 0, false},
};

static int error_style = ERROR_STYLE_STANDARD;

void
errors_init(void)
{
	DefineCustomEnumVariable(
		"billium.error_style", "SQLSTATEs of billium's errors: standard, or PostgREST's PTnnn.",
		"With postgrest, PostgREST answers with the envelope's HTTP status and "
		"passes the envelope in details.",
		&error_style, ERROR_STYLE_STANDARD, error_styles, PGC_SUSET, 0, NULL, NULL, NULL);
}

static int
error_sqlstate(const BilliumErrorInfo *info)
{
	if (error_style == ERROR_STYLE_POSTGREST)
		return MAKE_SQLSTATE('P', 'T', '0' + info->http_status / 100,
							 '0' + info->http_status / 10 % 10, '0' + info->http_status % 10);
	return info->sqlstate;
}

void
billium_json_member(StringInfo buf, const char *name, const char *value)
{
	appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

static char *
envelope(const BilliumErrorInfo *info, const char *action, const char *extra_json)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfo(&json, "{\"status\":%d", info->http_status);
	billium_json_member(&json, "code", info->code);
	billium_json_member(&json, "message", info->message);
	if (action != NULL)
		billium_json_member(&json, "action", action);
	if (extra_json != NULL)
		appendStringInfoString(&json, extra_json);
	appendStringInfoChar(&json, '}');
	return json.data;
}

void
billium_raise(BilliumError error, const char *action, const char *extra_json)
{
	const BilliumErrorInfo *info = &errors[error];

	ereport(ERROR, errcode(error_sqlstate(info)), errmsg("%s", info->message),
			errdetail("%s", envelope(info, action, extra_json)));
	pg_unreachable();
}

static BilliumError
error_by_code(const char *code)
{
	for (int i = 0; i < BE_ERROR_COUNT; i++)
		if (strcmp(errors[i].code, code) == 0)
			return (BilliumError)i;
	ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("unknown billium error code \"%s\"", code));
	pg_unreachable();
}

/*
 * billium_deny(code, action, extra jsonb): raise an envelope error from the extension's own SQL,
 * with the members of extra added to the envelope.
 */
PG_FUNCTION_INFO_V1(billium_deny);
Datum
billium_deny(PG_FUNCTION_ARGS)
{
	BilliumError error = error_by_code(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	const char *action = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	StringInfoData extra;

	initStringInfo(&extra);
	if (!PG_ARGISNULL(2))
	{
		char *object = JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root, 0);
		size_t len = strlen(object);

		/* "{...}" becomes ",..." so its members follow the envelope's own. */
		if (len > 2 && object[0] == '{' && object[len - 1] == '}')
		{
			object[len - 1] = '\0';
			appendStringInfo(&extra, ",%s", object + 1);
		}
	}
	billium_raise(error, action, extra.len > 0 ? extra.data : NULL);
	PG_RETURN_VOID();
}

static HeapTuple
error_row(TupleDesc desc, int index)
{
	const BilliumErrorInfo *info = &errors[index];
	Datum values[4];
	bool nulls[4] = {false, false, false, false};

	values[0] = CStringGetTextDatum(info->code);
	values[1] = Int32GetDatum(info->http_status);
	values[2] = CStringGetTextDatum(unpack_sql_state(info->sqlstate));
	values[3] = CStringGetTextDatum(info->message);
	return heap_form_tuple(desc, values, nulls);
}

/* (code, http_status, sqlstate, message) for each envelope code. */
PG_FUNCTION_INFO_V1(billium_error_catalog);
Datum
billium_error_catalog(PG_FUNCTION_ARGS)
{
	return catalog_srf(fcinfo, BE_ERROR_COUNT, error_row);
}
