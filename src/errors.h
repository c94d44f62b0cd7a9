/*
 * errors.h: the error envelope.  One table maps each code to its HTTP status, SQLSTATE and
 * message; the README's error table mirrors it.
 */
#ifndef BILLIUM_ERRORS_H
#define BILLIUM_ERRORS_H

#include "lib/stringinfo.h"

#include "compat.h"

typedef enum BilliumError
{
	BE_API_KEY_MISSING,
	BE_API_KEY_MALFORMED,
	BE_API_KEY_INVALID,
	BE_API_KEY_REVOKED,
	BE_API_KEY_EXPIRED,
	BE_API_KEY_LEAKED,
	BE_PERMISSION_DENIED,
	BE_SECRET_KEY_REQUIRED,
	BE_MERCHANT_MISMATCH,
	BE_NOT_A_TEAM_MEMBER,
	BE_RATE_LIMITED,
	BE_SESSION_INVALID,
	BE_SESSION_EXPIRED,
	BE_SECURITY_REQUIREMENT_NOT_MET,
	BE_PRINCIPAL_CONFLICT,
	BE_ERROR_COUNT
} BilliumError;

/*
 * Raise the error: errmsg is the code's message, errdetail the JSON envelope
 * {"status":..,"code":..,"message":..,"action":..} followed by the members in extra_json (already
 * encoded, starting with a comma, or NULL).  action may be NULL.  Never returns.
 */
pg_noreturn extern void billium_raise(BilliumError error, const char *action,
									  const char *extra_json);

extern void errors_init(void);

/* ,"name":"value" with value JSON-escaped, appended to buf. */
extern void billium_json_member(StringInfo buf, const char *name, const char *value);

#endif
