/*
 * gate.c: billium_authorize, the one call a backend makes per request, and the order every way in
 * follows: who is calling (principal.c), then the rate limit (ratelimit.c), then the permission.
 * The policies' functions (policy.c) and those presenting a caller (caller.c) take the first two
 * steps through gate_caller.
 *
 * The action catalog is read from billium.actions into backend memory once and reloaded after
 * any change to that table: a statement trigger raises a relcache invalidation, which every
 * backend receives at the writer's commit (and the writer at its next command); a rolled-back
 * change sends nothing.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h" /* VARDATA_ANY and VARSIZE_ANY_EXHDR left postgres.h in 16 */
#endif

#include "errors.h"
#include "factors.h"
#include "gate.h"
#include "lookup.h"
#include "ratelimit.h"

#define ACTION_NAME_LEN 64

typedef struct Action
{
	char name[ACTION_NAME_LEN]; /* hash key */
	BilliumPermset required;
	const char *permission; /* its name, for the envelope; NULL when a role rules it */
	const char *role;		/* the one team role that may call it (0.6.0), or NULL */
	bool secret_only;
} Action;

/*
 * The loaded catalog lives in its own context.  An invalidation only marks it stale: it can
 * arrive while a load is running (when the load's query locks billium.actions), so it must not
 * free anything.  The next lookup loads a fresh copy and only then frees the old one.
 */
static HTAB *actions = NULL;
static MemoryContext actions_context = NULL;
static bool actions_stale = true;
static Oid actions_relid = InvalidOid;

static void
actions_invalidate(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == actions_relid)
		actions_stale = true;
}

void
gate_init(void)
{
	CacheRegisterRelcacheCallback(actions_invalidate, (Datum)0);
}

/* Whether billium.actions has its 0.6.0 role column (not while an older version is installed). */
static bool
actions_have_roles(void)
{
	return OidIsValid(actions_relid) && get_attnum(actions_relid, "role") != InvalidAttrNumber;
}

static void
actions_fill(HTAB *loaded, MemoryContext context)
{
	SPI_connect();
	if (SPI_execute(actions_have_roles()
						? "SELECT name, permission, secret_only, role FROM billium.actions"
						: "SELECT name, permission, secret_only, NULL::text FROM billium.actions",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read billium.actions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple row = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char *name = SPI_getvalue(row, desc, 1);
		char *permission = SPI_getvalue(row, desc, 2);
		char *role = SPI_getvalue(row, desc, 4);
		bool isnull;
		Action *action;

		if (strlen(name) >= ACTION_NAME_LEN)
			continue; /* the table's CHECK keeps names short; never truncate into another */
		action = hash_search(loaded, name, HASH_ENTER, NULL);
		/* The table's CHECK gives each action a permission or a role, never both. */
		action->required = permission ? permset_from_token(permission, strlen(permission)) : 0;
		action->permission = permission ? MemoryContextStrdup(context, permission) : NULL;
		action->role = role ? MemoryContextStrdup(context, role) : NULL;
		action->secret_only = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
	}
	SPI_finish();
}

static void
actions_load(void)
{
	MemoryContext context =
		AllocSetContextCreate(CacheMemoryContext, "billium actions", ALLOCSET_SMALL_SIZES);
	HASHCTL ctl;
	HTAB *loaded;

	/* Cleared first: an invalidation during the load leaves it set, so the next call reloads. */
	actions_stale = false;
	actions_relid = lookup_extension_relid("actions");
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ACTION_NAME_LEN;
	ctl.entrysize = sizeof(Action);
	ctl.hcxt = context;
	loaded = hash_create("billium actions", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	PG_TRY();
	{
		actions_fill(loaded, context);
	}
	PG_CATCH();
	{
		actions_stale = true;
		MemoryContextDelete(context);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (actions_context != NULL)
		MemoryContextDelete(actions_context);
	actions_context = context;
	actions = loaded;
}

static const Action *
action_lookup(const char *name)
{
	const Action *action = NULL;

	if (actions == NULL || actions_stale)
		actions_load();
	if (strlen(name) < ACTION_NAME_LEN)
		action = hash_search(actions, name, HASH_FIND, NULL);
	if (action == NULL)
		ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("unknown action \"%s\"", name),
				errhint("The actions are listed in billium.actions."));
	return action;
}

/*
 * 403 naming what the action requires: its permission ("required"), or its team role
 * ("required_role"), which a key never holds and a member holding another role may not use.
 */
static void
deny(const char *name, const char *member, const char *required)
{
	StringInfoData extra;

	initStringInfo(&extra);
	billium_json_member(&extra, member, required);
	billium_raise(BE_PERMISSION_DENIED, name, extra.data);
}

static void
authorize_key(const Principal *principal, const Action *action, const char *name,
			  const pg_uuid_t *merchant_id)
{
	if (merchant_id != NULL && memcmp(&principal->merchant_id, merchant_id, sizeof(pg_uuid_t)) != 0)
		billium_raise(BE_MERCHANT_MISMATCH, name, NULL);
	if (action->secret_only && principal->key_type == BILLIUM_KEY_PUBLIC)
		billium_raise(BE_SECRET_KEY_REQUIRED, name, NULL);
	if (action->role != NULL)
		deny(name, "required_role", action->role);
	if ((principal->permissions & action->required) != action->required)
		deny(name, "required", action->permission);
}

/* The required factors a user lacks, in the envelope's fixed order and spelling (factors.c). */
static void
deny_missing_factors(int missing, const char *name)
{
	StringInfoData extra;
	bool first = true;

	initStringInfo(&extra);
	appendStringInfoString(&extra, ",\"missing\":[");
	for (int i = 0; i < billium_factor_count; i++)
		if (missing & (1 << i))
		{
			appendStringInfo(&extra, "%s\"%s\"", first ? "" : ",", billium_factors[i].name);
			first = false;
		}
	appendStringInfoChar(&extra, ']');
	billium_raise(BE_SECURITY_REQUIREMENT_NOT_MET, name, extra.data);
}

static BilliumPermset
authorize_user(const Principal *principal, const Action *action, const char *name,
			   const pg_uuid_t *merchant_id)
{
	BilliumPermset permissions;
	int missing;

	if (merchant_id == NULL)
		ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("a dashboard user needs a merchant to be authorized on"),
				errhint("Pass the merchant_id the request is for."));
	if (!principal_team_access(principal, merchant_id, &permissions, &missing))
		billium_raise(BE_NOT_A_TEAM_MEMBER, name, NULL);
	/* The team's security requirements bind dashboard sessions only, never API keys. */
	if (missing != 0)
		deny_missing_factors(missing, name);
	if (action->role != NULL)
	{
		char role[16];

		if (!lookup_member_role(merchant_id, &principal->user_id, role, sizeof(role)) ||
			strcmp(role, action->role) != 0)
			deny(name, "required_role", action->role);
	}
	if ((permissions & action->required) != action->required)
		deny(name, "required", action->permission);
	return permissions;
}

/*
 * The gate's first two steps: who is calling, then, for an API key, its rate limit (429), charged
 * once per resolved principal (and by the limiter once per transaction and bucket).
 */
const Principal *
gate_caller(const char *action)
{
	static uint64 charged_resolution = 0;
	const Principal *principal = principal_current(action);

	if (principal->kind == PRINCIPAL_API_KEY && principal->resolution != charged_resolution)
	{
		ratelimit_charge(&principal->merchant_id, &principal->key_id, action);
		charged_resolution = principal->resolution;
	}
	return principal;
}

/*
 * The third step: may the caller perform the action on the merchant?  Raises 401/403; for a user,
 * *permissions is set to its permissions there.
 */
static void
gate_check(const Principal *principal, const Action *action, const char *name,
		   const pg_uuid_t *merchant_id, BilliumPermset *permissions)
{
	switch (principal->kind)
	{
		case PRINCIPAL_NONE:
			billium_raise(BE_API_KEY_MISSING, name, NULL);
			break;
		case PRINCIPAL_API_KEY:
			authorize_key(principal, action, name, merchant_id);
			break;
		case PRINCIPAL_USER:
			*permissions = authorize_user(principal, action, name, merchant_id);
			break;
	}
}

/* The verdict as billium_authorize returns it: the principal as a row. */
static Datum
gate_verdict(FunctionCallInfo fcinfo, const Principal *principal, const Action *action,
			 const char *name, const pg_uuid_t *merchant_id)
{
	BilliumPermset permissions = 0;

	gate_check(principal, action, name, merchant_id, &permissions);
	if (principal->kind == PRINCIPAL_USER)
		return principal_datum(fcinfo, principal, merchant_id, &permissions);
	return principal_datum(fcinfo, principal, NULL, NULL);
}

static char *
action_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("the action must not be null"));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* billium_authorize(action, merchant_id): the principal, or the 401/403/429 envelope. */
PG_FUNCTION_INFO_V1(billium_authorize);
Datum
billium_authorize(PG_FUNCTION_ARGS)
{
	char *name = action_argument(fcinfo, 0);
	const Action *action = action_lookup(name);
	pg_uuid_t *merchant_id = PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1);

	PG_RETURN_DATUM(gate_verdict(fcinfo, gate_caller(name), action, name, merchant_id));
}

/*
 * billium_gate(api_key, action, merchant_id): billium_authenticate and billium_authorize in one
 * call, for a backend that sends the gate as a statement of its own.
 */
PG_FUNCTION_INFO_V1(billium_gate);
Datum
billium_gate(PG_FUNCTION_ARGS)
{
	char *name = action_argument(fcinfo, 1);
	const Action *action = action_lookup(name);
	pg_uuid_t *merchant_id = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);
	text *key = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);

	/* No key is no key, as an empty billium.api_key is: never a null "principal". */
	if (key == NULL || VARSIZE_ANY_EXHDR(key) == 0)
		billium_raise(BE_API_KEY_MISSING, name, NULL);
	principal_present_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), name);
	PG_RETURN_DATUM(gate_verdict(fcinfo, gate_caller(name), action, name, merchant_id));
}

/*
 * billium_rate_limit_status(merchant_id): the limiter's state (ratelimit.c).  A merchant's bucket
 * is shown to superusers and to callers the gate lets view the merchant (merchant:view there).
 */
PG_FUNCTION_INFO_V1(billium_rate_limit_status);
Datum
billium_rate_limit_status(PG_FUNCTION_ARGS)
{
	static const Action view_merchant = {.required = BILLIUM_BIT(BP_MERCHANT_VIEW),
										 .permission = "merchant:view"};
	pg_uuid_t *merchant_id = PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0);
	const pg_uuid_t *key_id = NULL;
	BilliumPermset permissions;

	if (merchant_id != NULL && !superuser())
		gate_check(gate_caller(NULL), &view_merchant, NULL, merchant_id, &permissions);
	if (merchant_id != NULL && ratelimit_per_key())
	{
		const Principal *principal = gate_caller(NULL);

		if (principal->kind == PRINCIPAL_API_KEY &&
			memcmp(&principal->merchant_id, merchant_id, sizeof(pg_uuid_t)) == 0)
			key_id = &principal->key_id;
	}
	PG_RETURN_DATUM(ratelimit_status(fcinfo, merchant_id, key_id));
}

/*
 * billium_rate_limit_current(action): the bucket this transaction's key was charged to (by the
 * gate, first: a 401 or 429 names the action), as the RateLimit header fields; no row for a
 * session, or when no limit applies.
 */
PG_FUNCTION_INFO_V1(billium_rate_limit_current);
Datum
billium_rate_limit_current(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	const Principal *principal;
	RateLimitFields fields;
	Datum values[4];
	bool nulls[4] = {false, false, false, false};

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	principal = gate_caller(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (principal->kind != PRINCIPAL_API_KEY ||
		!ratelimit_current(&principal->merchant_id, &principal->key_id, &fields))
		PG_RETURN_NULL();
	values[0] = Int32GetDatum(fields.quota);
	values[1] = Int32GetDatum(fields.window_s);
	values[2] = Int32GetDatum(fields.remaining);
	values[3] = Int32GetDatum(fields.reset_s);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_NULL();
}
