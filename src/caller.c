/*
 * caller.c: the SQL functions that present this transaction's caller or report it:
 * billium_authenticate, billium_authenticate_session, billium_act_as and
 * billium_current_principal.  Each goes through the gate's first two steps (gate_caller: who is
 * calling, then the rate limit), so a key presented here is charged as at billium_authorize.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "compat.h"
#include "gate.h"
#include "lookup.h"
#include "principal.h"

/* billium_current_principal(): this transaction's caller, or null. */
PG_FUNCTION_INFO_V1(billium_current_principal);
Datum
billium_current_principal(PG_FUNCTION_ARGS)
{
	const Principal *principal = gate_caller(NULL);

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

	principal_present_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL);
	PG_RETURN_DATUM(principal_datum(fcinfo, gate_caller(NULL), NULL, NULL));
}

/* billium_authenticate_session(jwt): verify a dashboard session and make its user the principal. */
PG_FUNCTION_INFO_V1(billium_authenticate_session);
Datum
billium_authenticate_session(PG_FUNCTION_ARGS)
{
	principal_present_session(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_DATUM(principal_datum(fcinfo, gate_caller(NULL), NULL, NULL));
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
	principal_present_user(user_id);
	PG_RETURN_DATUM(principal_datum(fcinfo, gate_caller(NULL), NULL, NULL));
}
