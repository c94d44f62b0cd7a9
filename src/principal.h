/*
 * principal.h: who is calling in this transaction.  Resolved at most once per transaction from
 * billium.api_key, request.headers' x-api-key, billium_authenticate or billium_act_as, and
 * forgotten at commit and abort so nothing reaches the next transaction on the connection.
 * Resolving charges no rate limit and decides nothing: that is the gate's (gate.h).
 */
#ifndef BILLIUM_PRINCIPAL_H
#define BILLIUM_PRINCIPAL_H

#include "fmgr.h"
#include "utils/uuid.h"

#include "parse_key.h"
#include "permset.h"

typedef enum PrincipalKind
{
	PRINCIPAL_NONE,
	PRINCIPAL_API_KEY,
	PRINCIPAL_USER
} PrincipalKind;

typedef struct Principal
{
	PrincipalKind kind;
	uint64 resolution; /* a new number each time a principal is resolved or presented */
	pg_uuid_t user_id; /* the user, or the key's creator */
	bool session;	   /* a dashboard session (JWT or trusted claims): bound by team requirements */
	/* API keys only: */
	pg_uuid_t key_id;
	pg_uuid_t merchant_id;
	BilliumKeyType key_type;
	BilliumPermset permissions; /* effective, verified this transaction */
} Principal;

/* The principal of this transaction, resolving it on first use; raises 401 for a bad key. */
extern const Principal *principal_current(const char *action);

/*
 * Make a presented credential this transaction's principal: a key (billium_authenticate; 401 as
 * key_verify, action may be NULL), a session token (billium_authenticate_session), or a user
 * without a token (billium_act_as, whose caller the SQL function checks).  A key and a session
 * together are refused (400 PRINCIPAL_CONFLICT).
 */
extern const Principal *principal_present_key(const char *key, size_t len, const char *action);
extern const Principal *principal_present_session(const char *token);
extern const Principal *principal_present_user(const pg_uuid_t *user_id);

/*
 * What the principal may do on the merchant: a key's permissions on its own merchant, a user's
 * team permissions (none while a required factor is missing); *on_team says whether a user is
 * on that team.
 */
extern BilliumPermset principal_permissions_on(const Principal *principal,
											   const pg_uuid_t *merchant_id, bool *on_team);

/*
 * The principal's standing on the merchant: false when not on its team (or another merchant's
 * key); else its permissions there and, for a session, the required factors it lacks (bit i:
 * billium_factors[i] of factors.h).
 */
extern bool principal_team_access(const Principal *principal, const pg_uuid_t *merchant_id,
								  BilliumPermset *permissions, int *missing_factors);

/* The principal as a billium_principal row; merchant and permissions may override a user's. */
extern Datum principal_datum(FunctionCallInfo fcinfo, const Principal *principal,
							 const pg_uuid_t *merchant_id, const BilliumPermset *permissions);

extern void principal_init(void);

#endif
