/*
 * lookup.c: prepared queries against the extension's tables, run as the owner of schema
 * billium.  Every name is schema-qualified and every operator spelled OPERATOR(schema.op), so
 * nothing on the caller's search_path can change what they mean.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "factors.h"
#include "lookup.h"

/*
 * The key, with its validity taken over its lineage: a key minted by a key (created_by_key) is
 * valid only while every ancestor is, so "revoked" is any of them revoked and the expiry the
 * earliest among them.  The path stops a cycle that a hand-written row could make.  leaked is the
 * SQL of its 8th column, whether the key itself was revoked because it leaked (api_keys.leaked_at,
 * from 0.6.0 on; "false" before the upgrade adds the column).
 */
#define KEY_QUERY(leaked)                                                                          \
	"WITH RECURSIVE lineage (id, parent, path, revoked, expires_at) AS ("                          \
	"  SELECT k.id, k.created_by_key, ARRAY[k.id], k.revoked_at IS NOT NULL, k.expires_at"         \
	"    FROM billium.api_keys k WHERE k.key_hash OPERATOR(pg_catalog.=) $1"                       \
	"  UNION ALL"                                                                                  \
	"  SELECT a.id, a.created_by_key, l.path OPERATOR(pg_catalog.||) a.id,"                        \
	"         a.revoked_at IS NOT NULL, a.expires_at"                                              \
	"    FROM lineage l JOIN billium.api_keys a ON a.id OPERATOR(pg_catalog.=) l.parent"           \
	"   WHERE NOT a.id OPERATOR(pg_catalog.=) ANY (l.path))"                                       \
	"SELECT k.id, k.merchant_id, k.created_by, k.key_type,"                                        \
	"       (SELECT pg_catalog.bool_or(l.revoked) FROM lineage l),"                                \
	"       (SELECT pg_catalog.min(l.expires_at) FROM lineage l),"                                 \
	"       k.permissions OPERATOR(billium.&) billium.billium_key_type_cap(k.key_type)"            \
	"         OPERATOR(billium.&) COALESCE(tm.permissions OPERATOR(billium.&)"                     \
	"                                      billium.billium_role_cap(tm.role),"                     \
	"                                      '{}'::billium.billium_permset), " leaked                \
	"  FROM billium.api_keys k"                                                                    \
	"  LEFT JOIN billium.team_members tm"                                                          \
	"    ON tm.merchant_id OPERATOR(pg_catalog.=) k.merchant_id"                                   \
	"   AND tm.user_id OPERATOR(pg_catalog.=) k.created_by"                                        \
	" WHERE k.key_hash OPERATOR(pg_catalog.=) $1"

/*
 * The team grant, and the factors the merchant requires that the user lacks (bit i: factor i),
 * the factor columns spelled by team_query from factors.c.
 */
#define TEAM_QUERY_HEAD                                                                            \
	"SELECT tm.permissions OPERATOR(billium.&) billium.billium_role_cap(tm.role), 0"
#define TEAM_QUERY_TAIL                                                                            \
	"  FROM billium.team_members tm"                                                               \
	"  JOIN billium.merchants m ON m.id OPERATOR(pg_catalog.=) tm.merchant_id"                     \
	"  JOIN billium.users u ON u.id OPERATOR(pg_catalog.=) tm.user_id"                             \
	" WHERE tm.merchant_id OPERATOR(pg_catalog.=) $1 AND tm.user_id OPERATOR(pg_catalog.=) $2"

/*
 * The merchants where the user's grant holds $2; for a session ($3), only those whose security
 * requirements the user meets (no rows elsewhere), which user_merchants_query spells per factor.
 */
#define USER_MERCHANTS_QUERY_HEAD                                                                  \
	"SELECT COALESCE(pg_catalog.array_agg(tm.merchant_id), '{}'::pg_catalog.uuid[])"               \
	"  FROM billium.team_members tm"                                                               \
	"  JOIN billium.merchants m ON m.id OPERATOR(pg_catalog.=) tm.merchant_id"                     \
	"  JOIN billium.users u ON u.id OPERATOR(pg_catalog.=) tm.user_id"                             \
	" WHERE tm.user_id OPERATOR(pg_catalog.=) $1"                                                  \
	"   AND (tm.permissions OPERATOR(billium.&) billium.billium_role_cap(tm.role))"                \
	"       OPERATOR(billium.@>) $2"                                                               \
	"   AND (NOT $3"

#define USER_QUERY "SELECT 1 FROM billium.users u WHERE u.id OPERATOR(pg_catalog.=) $1"

#define ROLE_QUERY                                                                                 \
	"SELECT tm.role FROM billium.team_members tm"                                                  \
	" WHERE tm.merchant_id OPERATOR(pg_catalog.=) $1 AND tm.user_id OPERATOR(pg_catalog.=) $2"

static SPIPlanPtr key_plan;
static SPIPlanPtr key_plan_before_leaks;
static SPIPlanPtr team_plan;
static SPIPlanPtr user_plan;
static SPIPlanPtr role_plan;
static SPIPlanPtr user_merchants_plan;

/* The team query: per factor, " | (CASE WHEN m.<enforce> AND NOT u.<user> THEN 2^i ELSE 0 END)". */
static const char *
team_query(void)
{
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfoString(&query, TEAM_QUERY_HEAD);
	for (int i = 0; i < billium_factor_count; i++)
		appendStringInfo(&query,
						 " OPERATOR(pg_catalog.|) (CASE WHEN m.%s AND NOT u.%s THEN %d ELSE 0 END)",
						 quote_identifier(billium_factors[i].enforce_column),
						 quote_identifier(billium_factors[i].user_column), 1 << i);
	appendStringInfoString(&query, TEAM_QUERY_TAIL);
	return query.data;
}

/* The user's merchants: per factor, " OR (u.<user> OR NOT m.<enforce>)" under one AND. */
static const char *
user_merchants_query(void)
{
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfoString(&query, USER_MERCHANTS_QUERY_HEAD);
	appendStringInfoString(&query, " OR (true");
	for (int i = 0; i < billium_factor_count; i++)
		appendStringInfo(&query, " AND (u.%s OR NOT m.%s)",
						 quote_identifier(billium_factors[i].user_column),
						 quote_identifier(billium_factors[i].enforce_column));
	appendStringInfoString(&query, "))");
	return query.data;
}

static Oid
extension_owner(void)
{
	Oid nspid = get_namespace_oid("billium", false);
	HeapTuple tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	Oid owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema billium");
	owner = ((Form_pg_namespace)GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return owner;
}

static SPIPlanPtr
prepared(SPIPlanPtr *plan, const char *query, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr fresh = SPI_prepare(query, nargs, argtypes);

		if (fresh == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(fresh);
		*plan = fresh;
	}
	return *plan;
}

/* A plan whose text is spelled at run time (from factors.c): built only when first prepared. */
static SPIPlanPtr
prepared_built(SPIPlanPtr *plan, const char *(*build)(void), int nargs, Oid *argtypes)
{
	return *plan != NULL ? *plan : prepared(plan, build(), nargs, argtypes);
}

/*
 * Run a prepared query as the schema's owner, returning at most one row in SPI_tuptable.  The
 * caller must SPI_connect first and SPI_finish after copying what it needs.  An error unwinds
 * through transaction or subtransaction abort, which restores the user id.  read_only: the
 * query sees the calling statement's snapshot and never bumps the command counter under it.
 */
static bool
run_as_owner_with(SPIPlanPtr plan, Datum *values, Snapshot snapshot)
{
	Oid saved_user;
	int saved_context;
	int rc;

	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(extension_owner(), saved_context | SECURITY_LOCAL_USERID_CHANGE);
	if (snapshot != InvalidSnapshot)
		rc = SPI_execute_snapshot(plan, values, NULL, snapshot, InvalidSnapshot, true, false, 1);
	else
		rc = SPI_execute_plan(plan, values, NULL, true, 1);
	SetUserIdAndSecContext(saved_user, saved_context);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

static bool
run_as_owner(SPIPlanPtr plan, Datum *values)
{
	return run_as_owner_with(plan, values, InvalidSnapshot);
}

static void
copy_uuid(pg_uuid_t *out, int column)
{
	bool isnull;
	Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull);

	memcpy(out, DatumGetUUIDP(value), sizeof(pg_uuid_t));
}

static bool
column_bool(int column)
{
	bool isnull;

	return DatumGetBool(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull));
}

static BilliumPermset
column_permset(int column)
{
	bool isnull;

	return DatumGetPermset(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull));
}

/*
 * Does api_keys have leaked_at (billium 0.6.0)?  Asked at each lookup, not once: the library
 * stays loaded across ALTER EXTENSION billium UPDATE.  A syscache probe; lookups are cache misses.
 */
static bool
key_has_leaked_at(void)
{
	Oid relid = lookup_extension_relid("api_keys");

	return OidIsValid(relid) && get_attnum(relid, "leaked_at") != InvalidAttrNumber;
}

bool
lookup_key(const uint8 *hash, KeyRecord *record)
{
	Oid argtypes[1] = {BYTEAOID};
	bytea *hash_value = palloc(VARHDRSZ + 32);
	Datum values[1];
	SPIPlanPtr plan;
	bool found;

	SET_VARSIZE(hash_value, VARHDRSZ + 32);
	memcpy(VARDATA(hash_value), hash, 32);
	values[0] = PointerGetDatum(hash_value);

	SPI_connect();
	if (key_has_leaked_at())
		plan = prepared(&key_plan, KEY_QUERY("k.leaked_at IS NOT NULL"), 1, argtypes);
	else
		plan = prepared(&key_plan_before_leaks, KEY_QUERY("false"), 1, argtypes);
	found = run_as_owner_with(plan, values, GetLatestSnapshot());
	if (found)
	{
		bool isnull;
		Datum expires_at;

		char *key_type = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

		copy_uuid(&record->key_id, 1);
		copy_uuid(&record->merchant_id, 2);
		copy_uuid(&record->created_by, 3);
		record->key_type = strcmp(key_type, "pk") == 0 ? BILLIUM_KEY_PUBLIC : BILLIUM_KEY_SECRET;
		record->revoked = column_bool(5);
		expires_at = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull);
		record->expires = !isnull;
		record->expires_at = isnull ? 0 : DatumGetTimestampTz(expires_at);
		record->effective = column_permset(7);
		record->leaked = column_bool(8);
	}
	SPI_finish();
	return found;
}

bool
lookup_team_access(const pg_uuid_t *merchant_id, const pg_uuid_t *user_id,
				   BilliumPermset *permissions, int *missing_factors)
{
	Oid argtypes[2] = {UUIDOID, UUIDOID};
	Datum values[2] = {UUIDPGetDatum((pg_uuid_t *)merchant_id),
					   UUIDPGetDatum((pg_uuid_t *)user_id)};
	bool found;

	SPI_connect();
	found = run_as_owner(prepared_built(&team_plan, team_query, 2, argtypes), values);
	if (found)
	{
		bool isnull;

		*permissions = column_permset(1);
		*missing_factors =
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	return found;
}

Datum
lookup_user_merchants(const pg_uuid_t *user_id, BilliumPermset wanted, bool session)
{
	Oid argtypes[3] = {UUIDOID, InvalidOid, BOOLOID};
	Datum values[3] = {UUIDPGetDatum((pg_uuid_t *)user_id), PermsetGetDatum(wanted),
					   BoolGetDatum(session)};
	Datum merchants;
	bool isnull;

	/* By schema, never through the search_path. */
	argtypes[1] = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("billium_permset"),
								  ObjectIdGetDatum(get_namespace_oid("billium", false)));
	SPI_connect();
	run_as_owner_with(prepared_built(&user_merchants_plan, user_merchants_query, 3, argtypes),
					  values, GetLatestSnapshot());
	merchants = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	merchants = SPI_datumTransfer(merchants, false, -1);
	SPI_finish();
	/* A value read from a tuple may have a 1-byte header; callers (and the cache) get a plain one.
	 */
	return PointerGetDatum(DatumGetArrayTypeP(merchants));
}

bool
lookup_user_exists(const pg_uuid_t *user_id)
{
	Oid argtypes[1] = {UUIDOID};
	Datum values[1] = {UUIDPGetDatum((pg_uuid_t *)user_id)};
	bool found;

	SPI_connect();
	found = run_as_owner(prepared(&user_plan, USER_QUERY, 1, argtypes), values);
	SPI_finish();
	return found;
}

bool
lookup_member_role(const pg_uuid_t *merchant_id, const pg_uuid_t *user_id, char *role, size_t size)
{
	Oid argtypes[2] = {UUIDOID, UUIDOID};
	Datum values[2] = {UUIDPGetDatum((pg_uuid_t *)merchant_id),
					   UUIDPGetDatum((pg_uuid_t *)user_id)};
	bool found;

	SPI_connect();
	found = run_as_owner(prepared(&role_plan, ROLE_QUERY, 2, argtypes), values);
	if (found)
		strlcpy(role, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), size);
	SPI_finish();
	return found;
}

Oid
lookup_extension_relid(const char *relname)
{
	Oid nspid = get_namespace_oid("billium", true);

	return OidIsValid(nspid) ? get_relname_relid(relname, nspid) : InvalidOid;
}

/* The merchant's own rate limit (billium--0.5.0): rate_limit and rate_burst, either null. */
#define MERCHANT_RATE_QUERY                                                                        \
	"SELECT m.rate_limit, m.rate_burst FROM billium.merchants m"                                   \
	" WHERE m.id OPERATOR(pg_catalog.=) $1"

static SPIPlanPtr merchant_rate_plan;

bool
lookup_merchant_rate(const pg_uuid_t *merchant_id, double *rate, int32 *burst)
{
	Oid argtypes[1] = {UUIDOID};
	Datum values[1] = {UUIDPGetDatum((pg_uuid_t *)merchant_id)};
	Oid relid = lookup_extension_relid("merchants");
	bool found;

	*rate = -1;
	*burst = -1;
	/* Before the 0.5.0 upgrade the columns do not exist: no merchant has its own limit. */
	if (!OidIsValid(relid) || get_attnum(relid, "rate_limit") == InvalidAttrNumber ||
		get_attnum(relid, "rate_burst") == InvalidAttrNumber)
		return false;
	SPI_connect();
	found = run_as_owner_with(prepared(&merchant_rate_plan, MERCHANT_RATE_QUERY, 1, argtypes),
							  values, GetLatestSnapshot());
	if (found)
	{
		bool isnull;
		Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			*rate = DatumGetFloat4(value);
		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
			*burst = DatumGetInt32(value);
	}
	SPI_finish();
	return found && (*rate >= 0 || *burst > 0);
}

/* billium--0.6.0: where a secret or credential is stored in a catalog every role can read. */
#define STORED_SECRETS_QUERY                                                                       \
	"SELECT pg_catalog.count(*)::pg_catalog.int4 FROM billium.billium_check_secret_settings()"

static SPIPlanPtr stored_secrets_plan;

int
lookup_stored_secret_count(void)
{
	List *name = list_make2(makeString("billium"), makeString("billium_check_secret_settings"));
	int count = 0;

	/* Before the 0.6.0 upgrade there is no check to run. */
	if (!OidIsValid(LookupFuncName(name, 0, NULL, true)))
		return 0;
	SPI_connect();
	if (run_as_owner(prepared(&stored_secrets_plan, STORED_SECRETS_QUERY, 0, NULL), NULL))
	{
		bool isnull;
		Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		count = isnull ? 0 : DatumGetInt32(value);
	}
	SPI_finish();
	return count;
}
