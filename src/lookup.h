/*
 * lookup.h: the few queries verification needs, run as the extension's owner so that row-level
 * security on the extension's own tables does not apply to them (the policies themselves ask
 * the principal, which these lookups build).
 */
#ifndef BILLIUM_LOOKUP_H
#define BILLIUM_LOOKUP_H

#include "datatype/timestamp.h"
#include "utils/uuid.h"

#include "parse_key.h"
#include "permset.h"

typedef struct KeyRecord
{
	pg_uuid_t key_id;
	pg_uuid_t merchant_id;
	pg_uuid_t created_by;
	BilliumKeyType key_type;
	bool revoked;			  /* the key or one of its ancestors (the keys that minted it) */
	bool leaked;			  /* the key itself revoked because a secret scanner reported it */
	bool expires;			  /* it or an ancestor has an expiry */
	TimestampTz expires_at;	  /* the earliest of those; valid while expires */
	BilliumPermset effective; /* granted & type cap & creator's team permissions */
} KeyRecord;

/*
 * The key whose SHA-256 is hash, as of the latest committed state (not the statement's snapshot,
 * so a cached record is never older than the invalidations already received); false when no
 * key has it.  The record depends on the rows of the key's ancestors too: a change to any row of
 * api_keys must invalidate every cached record.
 */
extern bool lookup_key(const uint8 *hash, KeyRecord *record);

/*
 * The user's permissions on the merchant (grant & role cap) and the factors the merchant requires
 * that the user has not enabled (bit i: billium_factors[i] of factors.h); false when the user is
 * not on the team.
 */
extern bool lookup_team_access(const pg_uuid_t *merchant_id, const pg_uuid_t *user_id,
							   BilliumPermset *permissions, int *missing_factors);

/*
 * The merchants where the user's team permissions (grant & role cap) hold every permission of
 * wanted (and, for a session, whose security requirements the user meets), as a palloc'd uuid[]
 * Datum in the caller's memory context, as of the latest committed state (so that it may be cached,
 * as keys are).
 */
extern Datum lookup_user_merchants(const pg_uuid_t *user_id, BilliumPermset wanted, bool session);

/* Does the dashboard user exist? */
extern bool lookup_user_exists(const pg_uuid_t *user_id);

/* The user's team role on the merchant (at most size - 1 bytes of it); false when not on the team.
 */
extern bool lookup_member_role(const pg_uuid_t *merchant_id, const pg_uuid_t *user_id, char *role,
							   size_t size);

/* The OID of a relation in the extension's schema, or InvalidOid. */
extern Oid lookup_extension_relid(const char *relname);

/*
 * The merchant's own rate limit: *rate (req/s; -1 when null) and *burst (-1 when null), as of the
 * latest committed state; false when it has neither (or the columns predate 0.5.0).
 */
extern bool lookup_merchant_rate(const pg_uuid_t *merchant_id, double *rate, int32 *burst);

/*
 * How many settings stored per role, database or function name a billium secret or credential
 * (billium.billium_check_secret_settings); 0 before the 0.6.0 upgrade.
 */
extern int lookup_stored_secret_count(void);

#endif
