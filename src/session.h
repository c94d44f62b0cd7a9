/*
 * session.h: dashboard sessions: a JWT verified in C, or PostgREST's already-verified claims.
 */
#ifndef BILLIUM_SESSION_H
#define BILLIUM_SESSION_H

#include "utils/uuid.h"

/* The session token presented by this transaction (billium.session), or NULL. */
extern const char *session_setting_token(void);

/* The user of PostgREST's request.jwt.claims when billium.trust_request_claims is on, else false.
 */
extern bool session_trusted_claims_user(pg_uuid_t *user_id);

/*
 * Verify a token: signature (HS256 with billium.jwt_secret; RS256 or ES256 with a key of
 * billium.jwt_jwks chosen by kid), exp, nbf, aud, iss, and sub naming a dashboard user.  Raises
 * the 401 envelope SESSION_INVALID or SESSION_EXPIRED (with action, which may be NULL).
 */
extern void session_verify(const char *token, size_t len, const char *action, pg_uuid_t *user_id);

extern void session_init(void (*assign)(void));

#endif
