/*
 * lookup.h: the few queries verification needs, run as the extension's owner so that row-level
 * security on the extension's own tables does not apply to them (the policies themselves ask
 * the principal, which these lookups build).
 */
#ifndef BILLIUM_LOOKUP_H
#define BILLIUM_LOOKUP_H

#include "postgres.h"

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
	bool revoked;
	bool expires;			  /* has an expiry */
	TimestampTz expires_at;	  /* valid while expires */
	BilliumPermset effective; /* granted & type cap & creator's team permissions */
} KeyRecord;

/*
 * The key whose SHA-256 is hash, as of the latest committed state (not the statement's snapshot,
 * so a cached record is never older than the invalidations already received); false when no
 * key has it.
 */
extern bool lookup_key(const uint8 *hash, KeyRecord *record);

/* The user's permissions on the merchant (grant & role cap); false when not on the team. */
extern bool lookup_team_permissions(const pg_uuid_t *merchant_id, const pg_uuid_t *user_id,
									BilliumPermset *permissions);

/*
 * The merchants where the user's team permissions (grant & role cap) hold every permission of
 * wanted, as a palloc'd uuid[] Datum in the caller's memory context, as of the latest committed
 * state (so that it may be cached, as keys are).
 */
extern Datum lookup_user_merchants(const pg_uuid_t *user_id, BilliumPermset wanted);

/* Does the dashboard user exist? */
extern bool lookup_user_exists(const pg_uuid_t *user_id);

/* The OID of a relation in the extension's schema, or InvalidOid. */
extern Oid lookup_extension_relid(const char *relname);

#endif
