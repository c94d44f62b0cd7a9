/*
 * cache.h: the per-backend cache of verified keys (SHA-256 -> key record).
 */
#ifndef BILLIUM_CACHE_H
#define BILLIUM_CACHE_H

#include "lookup.h"

/* The record cached for the hash, if any. */
extern bool key_cache_get(const uint8 *hash, KeyRecord *record);

/* Invalidations seen so far; read before a lookup, handed to key_cache_put after it. */
extern uint64 key_cache_generation(void);

/*
 * Remember a record read from the tables, unless an invalidation arrived since generation was
 * read (the record may then predate a committed change).
 */
extern void key_cache_put(const uint8 *hash, const KeyRecord *record, uint64 generation);

/*
 * The merchants (a uuid[] Datum) where the user's team permissions hold every permission of
 * wanted; the same generation rule as keys.  get returns a copy in the caller's memory context.
 */
extern bool team_cache_get(const pg_uuid_t *user_id, BilliumPermset wanted, bool session,
						   Datum *merchants);
extern void team_cache_put(const pg_uuid_t *user_id, BilliumPermset wanted, bool session,
						   Datum merchants, uint64 generation);

/* A merchant's own rate limit (rate -1 / burst -1: none), with the same generation rule. */
extern bool rate_cache_get(const pg_uuid_t *merchant_id, double *rate, int32 *burst);
extern void rate_cache_put(const pg_uuid_t *merchant_id, double rate, int32 burst,
						   uint64 generation);

extern void key_cache_init(void);

#endif
