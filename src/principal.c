/*
 * principal.c: the transaction's principal.  A GUC assign hook marks it stale whenever
 * billium.api_key changes (including when SET LOCAL ends), and a transaction callback forgets it
 * at commit and abort, so a key is verified at most once per transaction however many rows and
 * policies ask, and never outlives the transaction that presented it.  A principal set inside a
 * savepoint is scoped to it as SET LOCAL is: rolled back with it, kept when it is released.
 *
 * Resolving says who is calling and nothing more: the rate limit and the verdict are the gate's
 * (gate.c), which asks this file and is never asked back.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/typcache.h"

#include "compat.h"
#include "errors.h"
#include "json_input.h"
#include "keys.h"
#include "lookup.h"
#include "principal.h"
#include "secrets.h"
#include "session.h"
#include "usage.h"
#include "xact_end.h"

static char *api_key_setting = NULL;

static Principal current;
static bool resolved = false;
static uint64 resolutions = 0; /* the last Principal.resolution handed out */

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
	if (xact_event_ends(event))
	{
		forget_principal();
		saved_principals = NULL; /* freed with TopTransactionContext */
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

/* The principal changes: remember the old one for a savepoint, and number the new one. */
static void
begin_principal(void)
{
	save_principal_for_subxact();
	forget_principal();
	current.resolution = ++resolutions;
	resolved = true;
}

static void
become_key(const char *key, size_t len, const char *action)
{
	KeyRecord record;

	key_verify(key, len, action, &record);
	usage_count(&record.key_id); /* shared memory only: no row, no invalidation */
	begin_principal();
	current.kind = PRINCIPAL_API_KEY;
	current.key_id = record.key_id;
	current.merchant_id = record.merchant_id;
	current.user_id = record.created_by;
	current.key_type = record.key_type;
	current.permissions = record.effective;
}

/* session: a dashboard session, bound by the team's security requirements; billium_act_as is not.
 */
static void
become_user(const pg_uuid_t *user_id, bool session)
{
	begin_principal();
	current.kind = PRINCIPAL_USER;
	current.user_id = *user_id;
	current.session = session;
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
			begin_principal(); /* nobody */
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

/*
 * The row type of a function returning a principal.  The type cache's descriptor of the named
 * row type (kept current by PostgreSQL if the type changes) serves every call: PL/pgSQL starts
 * each run of a statement with an empty fn_extra, so a copy blessed per call site was a lookup,
 * a copy and a bless per request (profiled: about a sixth of the cache-hit gate).  A call with no
 * expression (a direct C call) or a result that is not a named row type takes the general way,
 * once per call site.  Used at once, with no catalog access in between, so it is not pinned.
 */
static TupleDesc
principal_row_type(FunctionCallInfo fcinfo)
{
	Oid rettype = get_fn_expr_rettype(fcinfo->flinfo);
	TupleDesc desc = (TupleDesc)fcinfo->flinfo->fn_extra;

	if (OidIsValid(rettype) && rettype != RECORDOID)
	{
		TypeCacheEntry *type = lookup_type_cache(rettype, TYPECACHE_TUPDESC);

		if (type->typtype == TYPTYPE_COMPOSITE && type->tupDesc != NULL)
			return type->tupDesc;
	}
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	return desc;
}

Datum
principal_datum(FunctionCallInfo fcinfo, const Principal *principal, const pg_uuid_t *merchant_id,
				const BilliumPermset *permissions)
{
	TupleDesc desc;
	Datum values[6];
	bool nulls[6] = {false, false, false, false, false, false};
	bool is_key = principal->kind == PRINCIPAL_API_KEY;

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
	desc = principal_row_type(fcinfo);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

const Principal *
principal_present_key(const char *key, size_t len, const char *action)
{
	const char *token;
	pg_uuid_t claims_user;

	/* The same rule as a key set in the settings: never a key and a session together. */
	if (presented_session(&token, &claims_user))
		billium_raise(BE_PRINCIPAL_CONFLICT, action, NULL);
	become_key(key, len, action);
	return &current;
}

const Principal *
principal_present_session(const char *token)
{
	if (presented_key() != NULL)
		billium_raise(BE_PRINCIPAL_CONFLICT, NULL, NULL);
	become_session(token, NULL);
	return &current;
}

const Principal *
principal_present_user(const pg_uuid_t *user_id)
{
	become_user(user_id, false);
	return &current;
}
