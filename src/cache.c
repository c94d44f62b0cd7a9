/*
 * cache.c: when a cached record is still current.  The caches themselves (key_cache.c,
 * team_cache.c, rate_cache.c) store entries with the CacheDeps this file hands out and ask it on
 * every hit.
 *
 * Targeted (billium preloaded, not in recovery): shared memory holds generation counters, one for
 * "everything", one for "any merchant's settings" and GENERATION_SLOTS - 2 for merchants and users
 * (a uuid hashes to a slot: a collision only makes an unrelated entry stale).  The trigger
 * billium_invalidate_cache advances the slots of the rows a write touches at once, and again at
 * commit, after the transaction became visible; a write of unknown rows (TRUNCATE) advances
 * "everything".  A lookup whose answer may be cached reads the write sequence first (before its
 * snapshot is taken: lookups read the latest committed state), then the generations it depends
 * on, then the sequence again; a commit advances the sequence before the slots, so a commit the
 * lookup did not see either moved the sequence (nothing is stored) or moves a slot the entry
 * recorded (the entry is stale at its next hit).  A transaction that wrote to the tables caches
 * nothing, so nothing derived from a write that rolls back survives.
 *
 * Fallback (not preloaded, or a hot standby, which replays the writer's invalidations but runs no
 * trigger): a relcache invalidation of any of the tables empties every cache of the backend, and
 * keys are cached per backend, not in shared memory (key_cache.c).  The trigger keeps sending that
 * invalidation for them.  The tables are resolved before a lookup starts, never after it: an
 * invalidation that arrives while the first lookup waits for a lock must already match.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/inval.h"

#include "compat.h"
#include "cache.h"

#define GENERATION_SLOTS	   16384
#define SLOT_EVERYTHING		   0
#define SLOT_MERCHANT_SETTINGS 1
#define SLOT_FIRST_HASHED	   2
#define SLOT_KIND_MERCHANT	   1
#define SLOT_KIND_USER		   2

typedef struct SharedGenerations
{
	pg_atomic_uint64 sequence; /* advanced by every commit that advances a slot */
	pg_atomic_uint64 slots[GENERATION_SLOTS];
} SharedGenerations;

enum WatchedTable
{
	WATCHED_API_KEYS,
	WATCHED_TEAM_MEMBERS,
	WATCHED_MERCHANTS,
	WATCHED_USERS,
	WATCHED_COUNT
};

static SharedGenerations *generations = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

static uint64 local_generation = 0; /* fallback flushes of this backend */
/* Something was cached during recovery: only a flush forgets it, even once promoted. */
static bool filled_in_recovery = false;
static Oid watched_relids[WATCHED_COUNT];
static bool watched_resolved = false;

/* The slots this transaction's writes touched, advanced again at commit. */
static uint64 touched[GENERATION_SLOTS / 64];
static bool touched_any = false;

/* ---------------------------------------------------------------------------------------------
 * Generations
 * ------------------------------------------------------------------------------------------- */

bool
cache_targeted(void)
{
	return generations != NULL && !RecoveryInProgress();
}

static uint32
slot_for(int kind, const pg_uuid_t *id)
{
	uint64 seed = ((uint64)kind << 32) | MyDatabaseId;

	return SLOT_FIRST_HASHED + (uint32)(hash_bytes_extended(id->data, UUID_LEN, seed) %
										(GENERATION_SLOTS - SLOT_FIRST_HASHED));
}

static void
advance(uint32 slot)
{
	/* The sequence first: see the fill protocol above. */
	pg_atomic_fetch_add_u64(&generations->sequence, 1);
	pg_atomic_fetch_add_u64(&generations->slots[slot], 1);
}

static void
deps_add(CacheDeps *deps, uint32 slot)
{
	Assert(deps->count < CACHE_DEPS_MAX);
	deps->slot[deps->count] = slot;
	deps->seen[deps->count] = 0;
	deps->count++;
}

void
cache_deps_init(CacheDeps *deps)
{
	memset(deps, 0, sizeof(*deps));
	deps_add(deps, SLOT_EVERYTHING);
}

void
cache_deps_merchant(CacheDeps *deps, const pg_uuid_t *merchant_id)
{
	deps_add(deps, slot_for(SLOT_KIND_MERCHANT, merchant_id));
}

void
cache_deps_user(CacheDeps *deps, const pg_uuid_t *user_id)
{
	deps_add(deps, slot_for(SLOT_KIND_USER, user_id));
}

void
cache_deps_merchant_settings(CacheDeps *deps)
{
	deps_add(deps, SLOT_MERCHANT_SETTINGS);
}

bool
cache_deps_current(const CacheDeps *deps)
{
	if (generations == NULL)
		return true; /* the fallback empties the caches instead */
	for (int i = 0; i < deps->count; i++)
		if (pg_atomic_read_u64(&generations->slots[deps->slot[i]]) != deps->seen[i])
			return false;
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * The watched tables and the fallback
 * ------------------------------------------------------------------------------------------- */

static void
flush_local(void)
{
	local_generation++;
	key_cache_reset_local();
	team_cache_reset();
	rate_cache_reset();
}

/*
 * Read the relation OIDs to compare invalidations against; inside a transaction.  A missing table
 * (billium not installed in this database yet) leaves them unresolved, so every invalidation
 * counts until it is.  Other OIDs than last time (the extension was dropped and created again)
 * empty the backend's caches.
 */
static void
resolve_watched(void)
{
	static const char *const names[WATCHED_COUNT] = {"api_keys", "team_members", "merchants",
													 "users"};
	Oid relids[WATCHED_COUNT];

	for (int i = 0; i < WATCHED_COUNT; i++)
	{
		relids[i] = lookup_extension_relid(names[i]);
		if (!OidIsValid(relids[i]))
			return;
	}
	if (memcmp(watched_relids, relids, sizeof(relids)) != 0)
		flush_local();
	memcpy(watched_relids, relids, sizeof(relids));
	watched_resolved = true;
}

static bool
is_watched(Oid relid)
{
	for (int i = 0; i < WATCHED_COUNT; i++)
		if (relid == watched_relids[i])
			return true;
	return false;
}

static void
cache_invalidate(Datum arg pg_attribute_unused(), Oid relid)
{
	if (watched_resolved && relid != InvalidOid && !is_watched(relid))
		return;
	if (cache_targeted() && !filled_in_recovery)
	{
		/* The generations say what changed; resolving again notices a re-created extension. */
		watched_resolved = false;
		return;
	}
	/* Also a change replayed before a promotion whose invalidation arrives after it. */
	flush_local();
	watched_resolved = false;
	filled_in_recovery = false;
}

void
cache_check_tables(void)
{
	if (!watched_resolved)
		resolve_watched();
}

Oid
cache_api_keys_relid(void)
{
	return watched_resolved ? watched_relids[WATCHED_API_KEYS] : InvalidOid;
}

/* ---------------------------------------------------------------------------------------------
 * Filling
 * ------------------------------------------------------------------------------------------- */

void
cache_fill_begin(CacheFill *fill)
{
	if (!watched_resolved)
		resolve_watched();
	fill->local_generation = local_generation;
	fill->shared_sequence = 0;
	if (RecoveryInProgress())
		filled_in_recovery = true;
	if (generations != NULL)
	{
		fill->shared_sequence = pg_atomic_read_u64(&generations->sequence);
		pg_memory_barrier();
	}
}

bool
cache_fill_end(const CacheFill *fill, CacheDeps *deps)
{
	if (touched_any || fill->local_generation != local_generation)
		return false;
	if (generations == NULL)
		return true;
	for (int i = 0; i < deps->count; i++)
		deps->seen[i] = pg_atomic_read_u64(&generations->slots[deps->slot[i]]);
	pg_memory_barrier();
	return pg_atomic_read_u64(&generations->sequence) == fill->shared_sequence;
}

/* ---------------------------------------------------------------------------------------------
 * billium_invalidate_cache(): the trigger
 * ------------------------------------------------------------------------------------------- */

static void
touch(uint32 slot)
{
	touched[slot / 64] |= UINT64CONST(1) << (slot % 64);
	touched_any = true;
	if (generations != NULL)
		advance(slot);
}

/* The slot of the uuid in the row's column (nothing for a null; everything without the column). */
static void
touch_column(Relation relation, HeapTuple tuple, const char *column, int kind)
{
	TupleDesc desc = RelationGetDescr(relation);
	int attnum = SPI_fnumber(desc, column);
	bool isnull;
	Datum value;

	if (attnum <= 0)
	{
		touch(SLOT_EVERYTHING);
		return;
	}
	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (!isnull)
		touch(slot_for(kind, DatumGetUUIDP(value)));
}

static void
touch_row(Relation relation, HeapTuple tuple)
{
	Oid relid = RelationGetRelid(relation);

	if (relid == watched_relids[WATCHED_API_KEYS])
		touch_column(relation, tuple, "merchant_id", SLOT_KIND_MERCHANT);
	else if (relid == watched_relids[WATCHED_TEAM_MEMBERS])
	{
		touch_column(relation, tuple, "merchant_id", SLOT_KIND_MERCHANT);
		touch_column(relation, tuple, "user_id", SLOT_KIND_USER);
	}
	else if (relid == watched_relids[WATCHED_MERCHANTS])
	{
		touch_column(relation, tuple, "id", SLOT_KIND_MERCHANT);
		touch(SLOT_MERCHANT_SETTINGS);
	}
	else if (relid == watched_relids[WATCHED_USERS])
		touch_column(relation, tuple, "id", SLOT_KIND_USER);
}

/* The slots of the rows written (old and new of an update), or everything for a statement. */
static void
touch_written(TriggerData *trigdata)
{
	Oid relid = RelationGetRelid(trigdata->tg_relation);

	if (!watched_resolved)
		resolve_watched();
	if (!watched_resolved)
	{
		touch(SLOT_EVERYTHING);
		return;
	}
	if (!is_watched(relid))
		return; /* billium.actions: gate.c's catalog, reloaded on the relcache invalidation */
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		touch(SLOT_EVERYTHING);
		return;
	}
	touch_row(trigdata->tg_relation, trigdata->tg_trigtuple);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		touch_row(trigdata->tg_relation, trigdata->tg_newtuple);
}

/*
 * Per row in ordinary sessions and in a logical-replication subscriber's apply worker (there as a
 * row trigger enabled REPLICA); per statement for TRUNCATE and billium.actions.  The relcache
 * invalidation, for the fallback and for hot standbys, goes once per table and (sub)transaction:
 * each row adding its own would flood the shared invalidation queue on a large transaction.
 */
PG_FUNCTION_INFO_V1(billium_invalidate_cache);
Datum
billium_invalidate_cache(PG_FUNCTION_ARGS)
{
	static TransactionId sent_xid = InvalidTransactionId;
	static SubTransactionId sent_subxid = InvalidSubTransactionId;
	static Oid sent_relid = InvalidOid;
	TriggerData *trigdata = (TriggerData *)fcinfo->context;
	Oid relid;
	TransactionId xid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				errmsg("billium_invalidate_cache must be called as a trigger"));
	touch_written(trigdata);
	relid = RelationGetRelid(trigdata->tg_relation);
	/* A row was written, so the transaction has its xid; an abort ends the subtransaction. */
	xid = GetTopTransactionIdIfAny();
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) && relid == sent_relid &&
		TransactionIdIsValid(xid) && xid == sent_xid && GetCurrentSubTransactionId() == sent_subxid)
		PG_RETURN_POINTER(NULL);
	CacheInvalidateRelcache(trigdata->tg_relation);
	sent_relid = relid;
	sent_xid = xid;
	sent_subxid = GetCurrentSubTransactionId();
	PG_RETURN_POINTER(NULL);
}

static void
cache_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (!touched_any)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/* COMMIT PREPARED runs elsewhere, where no callback would advance the slots. */
			if (generations != NULL)
				ereport(ERROR, errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("cannot prepare a transaction that changed billium's keys, teams, "
							   "merchants or users"),
						errdetail(
							"The caches of other sessions learn of such a change at its commit."));
			return;
		case XACT_EVENT_COMMIT:
			/* Visible now: a lookup from here on sees the change, one before it goes stale. */
			if (generations != NULL)
				for (uint32 word = 0; word < lengthof(touched); word++)
					for (uint64 bits = touched[word]; bits != 0; bits &= bits - 1)
						advance(word * 64 + pg_rightmost_one_pos64(bits));
			break;
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	memset(touched, 0, sizeof(touched));
	touched_any = false;
}

/* ---------------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------------- */

static void
stats_values(const CacheStats *stats, Datum *values)
{
	values[0] = Int64GetDatum(stats->capacity);
	values[1] = Int64GetDatum(stats->entries);
	values[2] = Int64GetDatum(stats->hits);
	values[3] = Int64GetDatum(stats->misses);
	values[4] = Int64GetDatum(stats->evictions);
	values[5] = Int64GetDatum(stats->stale);
}

/* billium_cache_stats(): the verified-key cache, the shared one when billium is preloaded. */
PG_FUNCTION_INFO_V1(billium_cache_stats);
Datum
billium_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum values[7];
	bool nulls[7] = {false};
	CacheStats stats;
	bool shared;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	shared = key_cache_stats(&stats);
	values[0] = CStringGetTextDatum(shared ? "shared" : "backend");
	stats_values(&stats, values + 1);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* billium_local_cache_stats(): this backend's caches, one row each. */
PG_FUNCTION_INFO_V1(billium_local_cache_stats);
Datum
billium_local_cache_stats(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"keys", "teams", "rates"};
	static void (*const readers[])(CacheStats *) = {key_cache_local_stats, team_cache_stats,
													rate_cache_stats};
	FuncCallContext *funcctx;
	Datum values[7];
	bool nulls[7] = {false};
	CacheStats stats;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc desc;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr >= lengthof(names))
		SRF_RETURN_DONE(funcctx);
	readers[funcctx->call_cntr](&stats);
	values[0] = CStringGetTextDatum(names[funcctx->call_cntr]);
	stats_values(&stats, values + 1);
	SRF_RETURN_NEXT(funcctx,
					HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
}

/* ---------------------------------------------------------------------------------------------
 * Start-up
 * ------------------------------------------------------------------------------------------- */

static Size
cache_shmem_size(void)
{
	return MAXALIGN(sizeof(SharedGenerations));
}

static void
cache_shmem_init(void)
{
	bool found;

	generations = ShmemInitStruct("billium cache generations", sizeof(SharedGenerations), &found);
	if (!found)
	{
		pg_atomic_init_u64(&generations->sequence, 0);
		for (int i = 0; i < GENERATION_SLOTS; i++)
			pg_atomic_init_u64(&generations->slots[i], 0);
	}
}

static void
cache_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(add_size(cache_shmem_size(), key_cache_shmem_size()));
	key_cache_shmem_request();
}

static void
cache_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cache_shmem_init();
	key_cache_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
cache_init(void)
{
	key_cache_init();
	team_cache_init();
	rate_cache_init();
	CacheRegisterRelcacheCallback(cache_invalidate, (Datum)0);
	RegisterXactCallback(cache_xact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	key_cache_shared_settings();
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cache_shmem_request;
#else
	cache_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cache_shmem_startup;
}
