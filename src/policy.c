/*
 * policy.c: what the row-level security policies ask (sql/policies.sql generates them): the
 * merchants where this transaction's caller holds a permission, a pk key's own id, a view
 * policy's indexed merchants and whether the caller sees all their rows, and the caller's
 * permissions on one merchant.  Each asks the gate for the caller (gate_caller: who is calling,
 * then the rate limit), so a request that only ever meets the policies (PostgREST, plain SQL) is
 * charged once per transaction and bucket as one through billium_authorize is.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/uuid.h"

#include "cache.h"
#include "compat.h"
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
			CacheFill fill;

			cache_fill_begin(&fill);
			merchants = lookup_user_merchants(&principal->user_id, wanted, principal->session);
			team_cache_put(&principal->user_id, wanted, principal->session, merchants, &fill);
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

/* merchants_holding for this transaction's caller and the permission named. */
static Datum
caller_merchants_holding(text *name, bool listing)
{
	return merchants_holding(
		gate_caller(NULL), permset_from_token(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)), listing);
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
	PG_RETURN_DATUM(caller_merchants_holding(PG_GETARG_TEXT_PP(0), false));
}

/*
 * billium_merchants_listing(permission): as billium_merchants_with, but a pk key gets none: public
 * keys never enumerate, and see only rows they created (billium_public_key_with).
 */
PG_FUNCTION_INFO_V1(billium_merchants_listing);
Datum
billium_merchants_listing(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(caller_merchants_holding(PG_GETARG_TEXT_PP(0), true));
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

/* Whether uuid Datum needle is one of the n in haystack. */
static bool
uuid_among(Datum needle, const Datum *haystack, int n)
{
	for (int i = 0; i < n; i++)
		if (memcmp(DatumGetUUIDP(needle), DatumGetUUIDP(haystack[i]), sizeof(pg_uuid_t)) == 0)
			return true;
	return false;
}

/*
 * Into *merchants (room left for one more) the merchants where the principal holds the permission
 * view_name (none for a pk key when listing), then those where it holds create_name but not view;
 * returns whether there is any of the second kind.
 */
static bool
seeing_or_creating(const Principal *principal, text *view_name, text *create_name, bool listing,
				   Datum **merchants, int *n_merchants)
{
	BilliumPermset view = permset_from_token(VARDATA_ANY(view_name), VARSIZE_ANY_EXHDR(view_name));
	BilliumPermset create =
		permset_from_token(VARDATA_ANY(create_name), VARSIZE_ANY_EXHDR(create_name));
	bool create_only = false;
	Datum *seeing;
	Datum *viewing;
	Datum *creating;
	int n_seeing;
	int n_viewing;
	int n_creating;
	int kept;

	deconstruct_array(DatumGetArrayTypeP(merchants_holding(principal, view, listing)), UUIDOID,
					  UUID_LEN, false, TYPALIGN_CHAR, &seeing, NULL, &n_seeing);
	deconstruct_array(DatumGetArrayTypeP(merchants_holding(principal, view, false)), UUIDOID,
					  UUID_LEN, false, TYPALIGN_CHAR, &viewing, NULL, &n_viewing);
	deconstruct_array(DatumGetArrayTypeP(merchants_holding(principal, create, false)), UUIDOID,
					  UUID_LEN, false, TYPALIGN_CHAR, &creating, NULL, &n_creating);
	*merchants = palloc(sizeof(Datum) * (n_seeing + n_creating + 1));
	memcpy(*merchants, seeing, sizeof(Datum) * n_seeing);
	kept = n_seeing;
	for (int i = 0; i < n_creating; i++)
	{
		if (uuid_among(creating[i], viewing, n_viewing))
			continue;
		create_only = true;
		if (!uuid_among(creating[i], *merchants, kept))
			(*merchants)[kept++] = creating[i];
	}
	*n_merchants = kept;
	return create_only;
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
	Datum *merchants;
	int kept;

	seeing_or_creating(gate_caller(NULL), PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1),
					   PG_GETARG_BOOL(2), &merchants, &kept);
	PG_RETURN_ARRAYTYPE_P(
		construct_array(merchants, kept, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * The merchants of a view policy (see billium_policy_visible_merchants) into *merchants, as
 * Datums; returns whether the caller sees every row of them (no create-only merchant, and not a
 * pk key limited to its own rows).
 */
static bool
policy_visible_merchants(text *view_name, text *create_name, bool own_rows, Datum **merchants,
						 int *n_merchants)
{
	const Principal *principal = gate_caller(NULL);
	BilliumPermset view = permset_from_token(VARDATA_ANY(view_name), VARSIZE_ANY_EXHDR(view_name));
	bool own_rows_key = own_rows && principal->kind == PRINCIPAL_API_KEY &&
						principal->key_type == BILLIUM_KEY_PUBLIC &&
						(principal->permissions & view) == view;
	bool create_only;
	int kept;

	create_only = seeing_or_creating(principal, view_name, create_name, own_rows, merchants, &kept);
	if (own_rows_key)
	{
		Datum own = UUIDPGetDatum((pg_uuid_t *)&principal->merchant_id);

		if (!uuid_among(own, *merchants, kept))
			(*merchants)[kept++] = own;
	}
	*n_merchants = kept;
	return !create_only && !own_rows_key;
}

/*
 * billium_policy_visible_merchants(view, create, own_rows): for a view policy, every merchant
 * where this transaction's caller may see any row: those where it holds view (none for a pk key
 * when the table has own rows), those where it holds create but not view (the row its own
 * INSERT ... RETURNING checks), and a pk key's own merchant (the rows it created).  The policy
 * indexes on it; billium_policy_visible_whole says whether the rest of the policy may be skipped.
 */
PG_FUNCTION_INFO_V1(billium_policy_visible_merchants);
Datum
billium_policy_visible_merchants(PG_FUNCTION_ARGS)
{
	Datum *merchants;
	int n;

	policy_visible_merchants(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), PG_GETARG_BOOL(2),
							 &merchants, &n);
	PG_RETURN_ARRAYTYPE_P(construct_array(merchants, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * billium_policy_visible_whole(view, create, own_rows): true when the caller sees every row of
 * billium_policy_visible_merchants (it creates nowhere it may not view, and is not a pk key
 * limited to its own rows): the common case, where a view policy's per-row remainder is one
 * boolean already computed for the statement.
 */
PG_FUNCTION_INFO_V1(billium_policy_visible_whole);
Datum
billium_policy_visible_whole(PG_FUNCTION_ARGS)
{
	Datum *merchants;
	int n;

	PG_RETURN_BOOL(policy_visible_merchants(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1),
											PG_GETARG_BOOL(2), &merchants, &n));
}
