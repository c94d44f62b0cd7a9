/*
 * gate.c: billium_authorize, the one call a backend makes per request.  The action catalog is
 * read from billium.actions into backend memory once and reloaded after any change to that
 * table: a statement trigger raises a relcache invalidation, which every backend receives at the
 * writer's commit (and the writer at its next command); a rolled-back change sends nothing.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "errors.h"
#include "gate.h"
#include "lookup.h"
#include "principal.h"

#define ACTION_NAME_LEN 64

typedef struct Action
{
	char name[ACTION_NAME_LEN]; /* hash key */
	BilliumPermset required;
	const char *permission; /* its name, for the envelope */
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

static void
actions_fill(HTAB *loaded, MemoryContext context)
{
	SPI_connect();
	if (SPI_execute("SELECT name, permission, secret_only FROM billium.actions", true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read billium.actions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple row = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char *name = SPI_getvalue(row, desc, 1);
		char *permission = SPI_getvalue(row, desc, 2);
		bool isnull;
		Action *action;

		if (strlen(name) >= ACTION_NAME_LEN)
			continue; /* the table's CHECK keeps names short; never truncate into another */
		action = hash_search(loaded, name, HASH_ENTER, NULL);
		action->required = permset_from_token(permission, strlen(permission));
		action->permission = MemoryContextStrdup(context, permission);
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

static void
deny_permission(const Action *action, const char *name)
{
	StringInfoData extra;

	initStringInfo(&extra);
	billium_json_member(&extra, "required", action->permission);
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
	if ((principal->permissions & action->required) != action->required)
		deny_permission(action, name);
}

/* The required factors a user lacks, in the envelope's fixed order and spelling. */
static void
deny_missing_factors(int missing, const char *name)
{
	static const struct
	{
		int bit;
		const char *name;
	} factors[] = {
		{FACTOR_TFA, "tfa"},
		{FACTOR_PASSKEY, "passkey"},
		{FACTOR_GOOGLE_LOGIN, "googleLogin"},
		{FACTOR_GITHUB_LOGIN, "githubLogin"},
		{FACTOR_EMAIL_VERIFIED, "emailVerified"},
	};
	StringInfoData extra;
	bool first = true;

	initStringInfo(&extra);
	appendStringInfoString(&extra, ",\"missing\":[");
	for (size_t i = 0; i < lengthof(factors); i++)
		if (missing & factors[i].bit)
		{
			appendStringInfo(&extra, "%s\"%s\"", first ? "" : ",", factors[i].name);
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
	if ((permissions & action->required) != action->required)
		deny_permission(action, name);
	return permissions;
}

/* billium_authorize(action, merchant_id): the principal, or the 401/403/429 envelope. */
PG_FUNCTION_INFO_V1(billium_authorize);
Datum
billium_authorize(PG_FUNCTION_ARGS)
{
	char *name;
	const Action *action;
	const Principal *principal;
	pg_uuid_t *merchant_id = PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1);
	BilliumPermset permissions;

	if (PG_ARGISNULL(0))
		ereport(ERROR, errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("the action must not be null"));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	action = action_lookup(name);
	principal = principal_current(name);

	switch (principal->kind)
	{
		case PRINCIPAL_NONE:
			billium_raise(BE_API_KEY_MISSING, name, NULL);
			break;
		case PRINCIPAL_API_KEY:
			authorize_key(principal, action, name, merchant_id);
			break;
		case PRINCIPAL_USER:
			permissions = authorize_user(principal, action, name, merchant_id);
			PG_RETURN_DATUM(principal_datum(fcinfo, principal, merchant_id, &permissions));
	}
	PG_RETURN_DATUM(principal_datum(fcinfo, principal, NULL, NULL));
}
