/*
 * policy.c: what the row-level security policies ask (sql/policies.sql generates them): the
 * merchants where this transaction's caller holds a permission, a pk key's own id, and the
 * caller's permissions on one merchant.  Each asks the gate for the caller (gate_caller: who is
 * calling, then the rate limit), so a request that only ever meets the policies (PostgREST, plain
 * SQL) is charged once per transaction and bucket as one through billium_authorize is.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/uuid.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h" /* VARDATA_ANY and VARSIZE_ANY_EXHDR left postgres.h in 16 */
#endif

#include "cache.h"
#include "gate.h"
#include "lookup.h"
#include "principal.h"

/* billium_principal_permissions(merchant): what this transaction's caller may do there. */
PG_FUNCTION_INFO_V1(billium_principal_permissions);
Datum
billium_principal_permissions(PG_FUNCTION_ARGS)
{
	bool on_team;

	if (PG_ARGISNULL(0))
		PG_RETURN_PERMSET(0);
	PG_RETURN_PERMSET(principal_permissions_on(gate_caller(NULL), PG_GETARG_UUID_P(0), &on_team));
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

	PG_RETURN_DATUM(merchants_holding(
		gate_caller(NULL), permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)), false));
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

	PG_RETURN_DATUM(merchants_holding(
		gate_caller(NULL), permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)), true));
}

/* billium_public_key_with(permission): the caller's key id when it is a pk key holding it. */
PG_FUNCTION_INFO_V1(billium_public_key_with);
Datum
billium_public_key_with(PG_FUNCTION_ARGS)
{
	text *name = PG_GETARG_TEXT_PP(0);
	BilliumPermset wanted = permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	const Principal *principal = gate_caller(NULL);
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
	const Principal *principal = gate_caller(NULL);
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
