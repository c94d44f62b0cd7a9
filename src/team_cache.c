/*
 * team_cache.c: the merchants where a dashboard user's team permissions hold a set of permissions
 * (for a session, those whose security requirements the user meets), so that a row-level security
 * policy pays a probe.  An entry depends on everything, on the user (team rows, factors) and on
 * any merchant's settings (their requirements).
 */
#include "postgres.h"

#include "utils/array.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "bounded_map.h"
#include "cache.h"

typedef struct TeamCacheKey
{
	pg_uuid_t user_id;
	BilliumPermset wanted;
	bool session; /* with the team's security requirements applied */
} TeamCacheKey;

typedef struct TeamCacheValue
{
	ArrayType *merchants; /* uuid[], in the map's context */
} TeamCacheValue;

static int team_cache_size = 1000;
static BoundedMap *teams = NULL;

static void
team_key(TeamCacheKey *key, const pg_uuid_t *user_id, BilliumPermset wanted, bool session)
{
	memset(key, 0, sizeof(*key)); /* padding is part of the hashed key */
	key->user_id = *user_id;
	key->wanted = wanted;
	key->session = session;
}

static void
team_release(void *value)
{
	TeamCacheValue *team = value;

	if (team->merchants != NULL)
		pfree(team->merchants);
}

bool
team_cache_get(const pg_uuid_t *user_id, BilliumPermset wanted, bool session, Datum *merchants)
{
	TeamCacheKey key;
	TeamCacheValue *team;

	cache_check_tables();
	team_key(&key, user_id, wanted, session);
	team = bounded_map_get(teams, &key);
	if (team == NULL)
		return false;
	/* A copy: an invalidation later in the statement may free the cache under its caller. */
	*merchants = PointerGetDatum(palloc(VARSIZE(team->merchants)));
	memcpy(DatumGetPointer(*merchants), team->merchants, VARSIZE(team->merchants));
	return true;
}

void
team_cache_put(const pg_uuid_t *user_id, BilliumPermset wanted, bool session, Datum merchants,
			   const CacheFill *fill)
{
	TeamCacheKey key;
	TeamCacheValue *team;
	CacheDeps deps;
	Size size = VARSIZE(DatumGetPointer(merchants));

	cache_deps_init(&deps);
	cache_deps_user(&deps, user_id);
	cache_deps_merchant_settings(&deps);
	if (!cache_fill_end(fill, &deps))
		return;
	team_key(&key, user_id, wanted, session);
	team = bounded_map_put(teams, &key, &deps);
	if (team == NULL)
		return;
	team->merchants = MemoryContextAlloc(bounded_map_context(teams), size);
	memcpy(team->merchants, DatumGetPointer(merchants), size);
}

void
team_cache_reset(void)
{
	if (teams != NULL)
		bounded_map_reset(teams);
}

void
team_cache_stats(CacheStats *stats)
{
	bounded_map_stats(teams, stats);
}

void
team_cache_init(void)
{
	DefineCustomIntVariable(
		"billium.team_cache_size",
		"Dashboard users' merchant lists (per permission set) each backend remembers (0 turns "
		"it off).",
		"Row-level security policies read them; a full cache evicts the entry least recently read.",
		&team_cache_size, 1000, 0, 1000000, PGC_SUSET, 0, NULL, NULL, NULL);
	teams = bounded_map_create("billium team cache", sizeof(TeamCacheKey), sizeof(TeamCacheValue),
							   &team_cache_size, team_release);
}
