/*
 * principal.c: the transaction's principal.  A GUC assign hook marks it stale whenever
 * billium.api_key changes (including when SET LOCAL ends), and a transaction callback forgets it
 * at commit and abort, so a key is verified at most once per transaction however many rows and
 * policies ask, and never outlives the transaction that presented it.  A principal set inside a
 * savepoint is scoped to it as SET LOCAL is: rolled back with it, kept when it is released.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "cache.h"
#include "errors.h"
#include "json_input.h"
#include "keys.h"
#include "lookup.h"
#include "principal.h"
#include "ratelimit.h"
#include "secrets.h"
#include "session.h"

static char *api_key_setting = NULL;

static Principal current;
static bool resolved = false;

/*
 * The last merchant a user principal was asked about, so a statement asks the table once.  It
 * holds for one command: a write to the team (in this transaction) advances the command id.
 */
static bool team_cache_valid = false;
static CommandId team_cache_command;
static pg_uuid_t team_cache_merchant;
static bool team_cache_on_team;
static BilliumPermset team_cache_permissions;
static int team_cache_missing;

/*
 * The principal as it was before a subtransaction first changed it, to be restored if that
 * subtransaction rolls back.  Most recent first; the entries live in TopTransactionContext and
 * the list is dropped at the end of the transaction.
 */
typedef struct SavedPrincipal
{
	SubTransactionId subid;
	Principal principal;
	bool resolved;
	struct SavedPrincipal *next;
} SavedPrincipal;

static SavedPrincipal *saved_principals = NULL;

/* Called before the principal changes: remember it once per subtransaction. */
static void
save_principal_for_subxact(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	SavedPrincipal *entry;

	/* Outside any savepoint the transaction's end forgets the principal anyway. */
	if (!IsTransactionState() || subid == TopSubTransactionId ||
		(saved_principals != NULL && saved_principals->subid == subid))
		return;
	entry = MemoryContextAlloc(TopTransactionContext, sizeof(SavedPrincipal));
	entry->subid = subid;
	entry->principal = current;
	entry->resolved = resolved;
	entry->next = saved_principals;
	saved_principals = entry;
}

static void
forget_principal(void)
{
	resolved = false;
	team_cache_valid = false;
	memset(&current, 0, sizeof(current));
}

static void
assign_api_key(const char *newval pg_attribute_unused(), void *extra pg_attribute_unused())
{
	forget_principal();
}

static void
principal_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_principal();
			saved_principals = NULL; /* freed with TopTransactionContext */
			break;
		default:
			break;
	}
}

/*
 * A subtransaction rolled back restores the principal from before it changed it; one committed
 * (a released savepoint) hands what it saved to its parent, unless the parent saved its own.
 */
static void
principal_subxact_callback(SubXactEvent event, SubTransactionId subid, SubTransactionId parent,
						   void *arg pg_attribute_unused())
{
	SavedPrincipal *entry = saved_principals;

	if (entry == NULL || entry->subid != subid)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			current = entry->principal;
			resolved = entry->resolved;
			team_cache_valid = false;
			saved_principals = entry->next;
			pfree(entry);
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			if (parent == TopSubTransactionId ||
				(entry->next != NULL && entry->next->subid == parent))
			{
				saved_principals = entry->next;
				pfree(entry);
			}
			else
				entry->subid = parent;
			break;
		default:
			break;
	}
}

void
principal_init(void)
{
	DefineCustomStringVariable(
		"billium.api_key", "The API key presented by this transaction's caller.",
		"Set with SET LOCAL for one transaction; an empty value means no key. The key is "
		"verified once per transaction and never shown by SHOW ALL, nor stored per role, "
		"database or function.",
		&api_key_setting, "", PGC_USERSET,
		GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, secrets_check_credential,
		assign_api_key, NULL);
	RegisterXactCallback(principal_xact_callback, NULL);
	RegisterSubXactCallback(principal_subxact_callback, NULL);
	session_init(forget_principal);
}

/* The x-api-key entry of PostgREST's request.headers, or NULL. */
static char *
request_header_key(void)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	Jsonb *json;
	JsonbValue *value;

	/* Malformed headers are no key, and never an error that would quote them. */
	if (headers == NULL || headers[0] == '\0' ||
		(json = json_object_quietly(headers, strlen(headers))) == NULL)
		return NULL;
	value = getKeyJsonValueFromContainer(&json->root, "x-api-key", strlen("x-api-key"), NULL);
	if (value == NULL || value->type != jbvString)
		return NULL;
	return pnstrdup(value->val.string.val, value->val.string.len);
}

static void
become_key(const char *key, size_t len, const char *action)
{
	KeyRecord record;

	key_verify(key, len, action, &record);
	ratelimit_charge(&record, action); /* 429 when the bucket is empty */
	save_principal_for_subxact();
	forget_principal();
	current.kind = PRINCIPAL_API_KEY;
	current.key_id = record.key_id;
	current.merchant_id = record.merchant_id;
	current.user_id = record.created_by;
	current.key_type = record.key_type;
	current.permissions = record.effective;
	resolved = true;
}

/* session: a dashboard session, bound by the team's security requirements; billium_act_as is not.
 */
static void
become_user(const pg_uuid_t *user_id, bool session)
{
	save_principal_for_subxact();
	forget_principal();
	current.kind = PRINCIPAL_USER;
	current.user_id = *user_id;
	current.session = session;
	resolved = true;
}

static void
become_session(const char *token, const char *action)
{
	pg_uuid_t user_id;

	session_verify(token, strlen(token), action, &user_id);
	become_user(&user_id, true);
}

/* The key this transaction presents (billium.api_key, or PostgREST's x-api-key), or NULL. */
static const char *
presented_key(void)
{
	const char *key = api_key_setting != NULL && api_key_setting[0] != '\0' ? api_key_setting
																			: request_header_key();

	return key != NULL && key[0] != '\0' ? key : NULL;
}

/* Does this transaction present a session (billium.session, or trusted claims naming a user)? */
static bool
presented_session(const char **token, pg_uuid_t *claims_user)
{
	*token = session_setting_token();
	return *token != NULL || session_trusted_claims_user(claims_user);
}

/*
 * Where a transaction's caller comes from: a key (billium.api_key, or PostgREST's x-api-key
 * header) or a dashboard session (billium.session, or PostgREST's verified claims when trusted).
 * Both at once is refused: a transaction carries at most one principal.
 */
const Principal *
principal_current(const char *action)
{
	if (!resolved)
	{
		const char *key;
		const char *token;
		pg_uuid_t claims_user;
		bool has_session;

		secrets_warn_once();
		key = presented_key();
		has_session = presented_session(&token, &claims_user);

		if (key != NULL && has_session)
			billium_raise(BE_PRINCIPAL_CONFLICT, action, NULL);
		if (key != NULL)
			become_key(key, strlen(key), action);
		else if (token != NULL)
			become_session(token, action);
		else if (has_session)
			become_user(&claims_user, true);
		else
		{
			save_principal_for_subxact();
			forget_principal();
			resolved = true;
		}
	}
	return &current;
}

bool
principal_team_access(const Principal *principal, const pg_uuid_t *merchant_id,
					  BilliumPermset *permissions, int *missing_factors)
{
	*permissions = 0;
	*missing_factors = 0;
	if (merchant_id == NULL)
		return false;
	switch (principal->kind)
	{
		case PRINCIPAL_API_KEY:
			if (memcmp(&principal->merchant_id, merchant_id, sizeof(pg_uuid_t)) != 0)
				return false;
			*permissions = principal->permissions;
			return true;
		case PRINCIPAL_USER:
			if (!team_cache_valid || team_cache_command != GetCurrentCommandId(false) ||
				memcmp(&team_cache_merchant, merchant_id, sizeof(pg_uuid_t)) != 0)
			{
				team_cache_on_team = lookup_team_access(
					merchant_id, &principal->user_id, &team_cache_permissions, &team_cache_missing);
				team_cache_merchant = *merchant_id;
				team_cache_command = GetCurrentCommandId(false);
				team_cache_valid = true;
			}
			if (!team_cache_on_team)
				return false;
			*permissions = team_cache_permissions;
			*missing_factors = principal->session ? team_cache_missing : 0;
			return true;
		case PRINCIPAL_NONE:
			break;
	}
	return false;
}

BilliumPermset
principal_permissions_on(const Principal *principal, const pg_uuid_t *merchant_id, bool *on_team)
{
	BilliumPermset permissions;
	int missing;

	*on_team = principal_team_access(principal, merchant_id, &permissions, &missing);
	/* A session that misses a required factor may do nothing there, as the policies see it. */
	return *on_team && missing == 0 ? permissions : 0;
}

Datum
principal_datum(FunctionCallInfo fcinfo, const Principal *principal, const pg_uuid_t *merchant_id,
				const BilliumPermset *permissions)
{
	TupleDesc desc = (TupleDesc)fcinfo->flinfo->fn_extra;
	Datum values[6];
	bool nulls[6] = {false, false, false, false, false, false};
	bool is_key = principal->kind == PRINCIPAL_API_KEY;

	/* The row type is looked up and blessed once per call site, not once per request. */
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	values[0] = CStringGetTextDatum(is_key ? "api_key" : "user");
	if (is_key)
		values[1] = UUIDPGetDatum((pg_uuid_t *)&principal->merchant_id);
	else if (merchant_id != NULL)
		values[1] = UUIDPGetDatum((pg_uuid_t *)merchant_id);
	else
		nulls[1] = true;
	values[2] = is_key ? UUIDPGetDatum((pg_uuid_t *)&principal->key_id) : (Datum)0;
	nulls[2] = !is_key;
	values[3] = is_key ? CStringGetTextDatum(billium_key_type_name(principal->key_type)) : 0;
	nulls[3] = !is_key;
	values[4] = UUIDPGetDatum((pg_uuid_t *)&principal->user_id);
	if (is_key)
		values[5] = PermsetGetDatum(principal->permissions);
	else if (permissions != NULL)
		values[5] = PermsetGetDatum(*permissions);
	else
		nulls[5] = true;
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/* billium_current_principal(): this transaction's caller, or null. */
PG_FUNCTION_INFO_V1(billium_current_principal);
Datum
billium_current_principal(PG_FUNCTION_ARGS)
{
	const Principal *principal = principal_current(NULL);

	if (principal->kind == PRINCIPAL_NONE)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(principal_datum(fcinfo, principal, NULL, NULL));
}

/* billium_authenticate(key): verify the key and make it this transaction's principal. */
PG_FUNCTION_INFO_V1(billium_authenticate);
Datum
billium_authenticate(PG_FUNCTION_ARGS)
{
	text *key = PG_GETARG_TEXT_PP(0);
	const char *token;
	pg_uuid_t claims_user;

	/* The same rule as a key set in the settings: never a key and a session together. */
	if (presented_session(&token, &claims_user))
		billium_raise(BE_PRINCIPAL_CONFLICT, NULL, NULL);
	become_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL);
	PG_RETURN_DATUM(principal_datum(fcinfo, &current, NULL, NULL));
}

/* billium_authenticate_session(jwt): verify a dashboard session and make its user the principal. */
PG_FUNCTION_INFO_V1(billium_authenticate_session);
Datum
billium_authenticate_session(PG_FUNCTION_ARGS)
{
	text *token = PG_GETARG_TEXT_PP(0);

	if (presented_key() != NULL)
		billium_raise(BE_PRINCIPAL_CONFLICT, NULL, NULL);
	become_session(text_to_cstring(token), NULL);
	PG_RETURN_DATUM(principal_datum(fcinfo, &current, NULL, NULL));
}

/* billium_principal_permissions(merchant): what this transaction's caller may do there. */
PG_FUNCTION_INFO_V1(billium_principal_permissions);
Datum
billium_principal_permissions(PG_FUNCTION_ARGS)
{
	bool on_team;

	if (PG_ARGISNULL(0))
		PG_RETURN_PERMSET(0);
	PG_RETURN_PERMSET(
		principal_permissions_on(principal_current(NULL), PG_GETARG_UUID_P(0), &on_team));
}

/* billium_act_as(user): a dashboard user without a token, for provisioning and tests. */
PG_FUNCTION_INFO_V1(billium_act_as);
Datum
billium_act_as(PG_FUNCTION_ARGS)
{
	pg_uuid_t *user_id = PG_GETARG_UUID_P(0);
	Oid admin = get_role_oid("billium_admin", true);

	if (!superuser() && !(OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
		ereport(ERROR, errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				errmsg("permission denied to act as a dashboard user"),
				errdetail("Only superusers and members of billium_admin may call billium_act_as."));
	if (!lookup_user_exists(user_id))
		ereport(ERROR, errcode(ERRCODE_NO_DATA_FOUND),
				errmsg("dashboard user %s does not exist",
					   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(user_id)))));
	become_user(user_id, false);
	PG_RETURN_DATUM(principal_datum(fcinfo, &current, NULL, NULL));
}

/* The merchants where the principal holds wanted, as a uuid[] Datum; listing: pk keys get none. */
static Datum
merchants_holding(const Principal *principal, BilliumPermset wanted, bool listing)
{
	if (principal->kind == PRINCIPAL_USER)
	{
		Datum merchants;

		if (!team_cache_get(&principal->user_id, wanted, principal->session, &merchants))
		{
			uint64 generation = key_cache_generation();

			merchants = lookup_user_merchants(&principal->user_id, wanted, principal->session);
			team_cache_put(&principal->user_id, wanted, principal->session, merchants, generation);
		}
		return merchants;
	}
	if (principal->kind == PRINCIPAL_API_KEY && (principal->permissions & wanted) == wanted &&
		!(listing && principal->key_type == BILLIUM_KEY_PUBLIC))
	{
		Datum merchant = UUIDPGetDatum((pg_uuid_t *)&principal->merchant_id);

		return PointerGetDatum(
			construct_array(&merchant, 1, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	}
	return PointerGetDatum(construct_empty_array(UUIDOID));
}

/*
 * billium_merchants_with(permission): the merchants where this transaction's caller holds the
 * permission, for row-level security policies, which wrap it as (SELECT ...) so it runs once
 * per statement.  A key: its own merchant or none; a user: the teams that grant it; no caller:
 * none.
 */
PG_FUNCTION_INFO_V1(billium_merchants_with);
Datum
billium_merchants_with(PG_FUNCTION_ARGS)
{
	text *name = PG_GETARG_TEXT_PP(0);

	PG_RETURN_DATUM(
		merchants_holding(principal_current(NULL),
						  permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)), false));
}

/*
 * billium_merchants_listing(permission): as billium_merchants_with, but a pk key gets none: public
 * keys never enumerate, and see only rows they created (billium_public_key_with).
 */
PG_FUNCTION_INFO_V1(billium_merchants_listing);
Datum
billium_merchants_listing(PG_FUNCTION_ARGS)
{
	text *name = PG_GETARG_TEXT_PP(0);

	PG_RETURN_DATUM(
		merchants_holding(principal_current(NULL),
						  permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)), true));
}

/* billium_public_key_with(permission): the caller's key id when it is a pk key holding it. */
PG_FUNCTION_INFO_V1(billium_public_key_with);
Datum
billium_public_key_with(PG_FUNCTION_ARGS)
{
	text *name = PG_GETARG_TEXT_PP(0);
	BilliumPermset wanted = permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	const Principal *principal = principal_current(NULL);
	pg_uuid_t *key_id;

	if (principal->kind != PRINCIPAL_API_KEY || principal->key_type != BILLIUM_KEY_PUBLIC ||
		(principal->permissions & wanted) != wanted)
		PG_RETURN_NULL();
	key_id = palloc(sizeof(pg_uuid_t));
	*key_id = principal->key_id;
	PG_RETURN_UUID_P(key_id);
}

/*
 * billium_merchants_returning(view, create, listing): the merchants where this transaction's
 * caller holds view (none for a pk key when listing), and those where it holds create but not
 * view.  The view policies index on it, and then let a row of the second kind through only while
 * its own INSERT ... RETURNING checks it (a row not yet stored: no ctid).  For a caller holding
 * view wherever it holds create it is exactly billium_merchants_with (or _listing).
 */
PG_FUNCTION_INFO_V1(billium_merchants_returning);
Datum
billium_merchants_returning(PG_FUNCTION_ARGS)
{
	text *view_name = PG_GETARG_TEXT_PP(0);
	text *create_name = PG_GETARG_TEXT_PP(1);
	bool listing = PG_GETARG_BOOL(2);
	const Principal *principal = principal_current(NULL);
	BilliumPermset view = permset_from_token(VARDATA_ANY(view_name), VARSIZE_ANY_EXHDR(view_name));
	BilliumPermset create =
		permset_from_token(VARDATA_ANY(create_name), VARSIZE_ANY_EXHDR(create_name));
	Datum *seeing;
	Datum *viewing;
	Datum *creating;
	int n_seeing;
	int n_viewing;
	int n_creating;
	Datum *merchants;
	int kept;

	deconstruct_array(DatumGetArrayTypeP(merchants_holding(principal, view, listing)), UUIDOID,
					  UUID_LEN, false, TYPALIGN_CHAR, &seeing, NULL, &n_seeing);
	deconstruct_array(DatumGetArrayTypeP(merchants_holding(principal, view, false)), UUIDOID,
					  UUID_LEN, false, TYPALIGN_CHAR, &viewing, NULL, &n_viewing);
	deconstruct_array(DatumGetArrayTypeP(merchants_holding(principal, create, false)), UUIDOID,
					  UUID_LEN, false, TYPALIGN_CHAR, &creating, NULL, &n_creating);
	merchants = palloc(sizeof(Datum) * (n_seeing + n_creating + 1));
	memcpy(merchants, seeing, sizeof(Datum) * n_seeing);
	kept = n_seeing;
	for (int i = 0; i < n_creating; i++)
	{
		bool views = false;

		for (int j = 0; j < n_viewing && !views; j++)
			views = memcmp(DatumGetUUIDP(creating[i]), DatumGetUUIDP(viewing[j]),
						   sizeof(pg_uuid_t)) == 0;
		if (!views)
			merchants[kept++] = creating[i];
	}
	PG_RETURN_ARRAYTYPE_P(
		construct_array(merchants, kept, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}
