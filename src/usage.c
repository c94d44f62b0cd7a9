/*
 * usage.c: key usage (last use, request count) without a write per request.
 *
 * A backend that verifies a key for a transaction adds one to the key's entry in a bounded hash
 * table in shared memory (keyed by database and key), under its partition's lock taken shared
 * and the entry's spinlock: no allocation, no table write, nothing a cache listens to.  A
 * background worker, connected to the database named by billium.usage_database (as pg_cron's
 * cron.database_name), wakes every billium.usage_flush_interval, writes what was counted into
 * billium.key_usage in one statement, then subtracts what it wrote and removes the entries left
 * at zero, which makes room again.  A crash (or an immediate shutdown) loses at most the counts
 * of one interval; a clean shutdown writes them first.  key_usage has no trigger and api_keys is
 * only read, so no count ever empties the key cache.
 *
 * When the table is full, a key without an entry is not counted until the next flush frees
 * room; billium_key_usage_status() says how many requests went uncounted so.  On a hot standby
 * the worker connects but writes nothing: counts stay in memory (and once full, new keys go
 * uncounted) until the server is promoted, when the next flush writes them.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shmem_hash.h"
#include "usage.h"
#include "xact_end.h"

#define USAGE_PARTITIONS 16 /* a power of two: dynahash picks partitions by hash bits */
#define USAGE_TRANCHE	 "billium_key_usage"
#define COUNTED_MAX		 4 /* keys remembered per transaction */

/* Settings. */
static bool track_usage = true;
static char *usage_database = NULL;
static int flush_interval = 10; /* seconds */
static int usage_max_keys = 10000;

typedef struct UsageKey
{
	pg_uuid_t key_id;
	Oid dbid;
} UsageKey;

typedef struct UsageEntry
{
	UsageKey key; /* hash key */
	slock_t mutex;
	int64 requests;		   /* counted since the last flush */
	TimestampTz last_used; /* the latest use counted */
} UsageEntry;

typedef struct UsageShared
{
	ShmemHashLocks partitions;	  /* first: shmem_hash.c sets it */
	pg_atomic_uint32 database_id; /* the worker's database, once connected */
	pg_atomic_uint64 dropped;	  /* requests not counted: the table was full */
	slock_t mutex;				  /* protects last_flush */
	TimestampTz last_flush;
} UsageShared;

static bool preloaded = false;
static UsageShared *shared = NULL;
static HTAB *entries = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Keys counted in this transaction, so a transaction counts once per key. */
static pg_uuid_t counted[COUNTED_MAX];
static int counted_count = 0;

PGDLLEXPORT void billium_usage_worker_main(Datum arg);

/* ---------------------------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------------------------- */

static const ShmemHashSpec usage_table = {
	.header_name = "billium key usage",
	.header_size = sizeof(UsageShared),
	.hash_name = "billium key usage entries",
	.key_size = sizeof(UsageKey),
	.entry_size = sizeof(UsageEntry),
	.tranche = USAGE_TRANCHE,
	.partitions = USAGE_PARTITIONS,
};

static void
usage_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	shmem_hash_request(&usage_table, usage_max_keys);
}

static void
usage_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	/* Fixed size: a full table stops counting new keys, and never takes other shared memory. */
	shared = shmem_hash_init(&usage_table, usage_max_keys, &entries, &found);
	if (!found)
	{
		pg_atomic_init_u32(&shared->database_id, InvalidOid);
		pg_atomic_init_u64(&shared->dropped, 0);
		SpinLockInit(&shared->mutex);
		shared->last_flush = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

static LWLock *
partition_lock(uint32 hash)
{
	return shmem_hash_partition_lock(&shared->partitions, hash);
}

/* ---------------------------------------------------------------------------------------------
 * Counting, in the backends
 * ------------------------------------------------------------------------------------------- */

static bool
counted_this_transaction(const pg_uuid_t *key_id)
{
	for (int i = 0; i < counted_count; i++)
		if (memcmp(&counted[i], key_id, sizeof(pg_uuid_t)) == 0)
			return true;
	return false;
}

static void
usage_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (xact_event_ends(event))
		counted_count = 0;
}

static void
entry_add(UsageEntry *entry, TimestampTz now)
{
	SpinLockAcquire(&entry->mutex);
	entry->requests++;
	if (now > entry->last_used)
		entry->last_used = now;
	SpinLockRelease(&entry->mutex);
}

void
usage_count(const pg_uuid_t *key_id)
{
	UsageKey key;
	UsageEntry *entry;
	uint32 hash;
	LWLock *lock;
	TimestampTz now;
	bool found;

	if (entries == NULL || !track_usage ||
		pg_atomic_read_u32(&shared->database_id) != MyDatabaseId ||
		counted_this_transaction(key_id))
		return;
	if (counted_count < COUNTED_MAX)
		counted[counted_count++] = *key_id;

	memset(&key, 0, sizeof(key));
	key.key_id = *key_id;
	key.dbid = MyDatabaseId;
	now = GetCurrentTransactionStartTimestamp();
	hash = get_hash_value(entries, &key);
	lock = partition_lock(hash);

	/* The common case: the key has an entry; the lock is shared, the entry's spinlock brief. */
	LWLockAcquire(lock, LW_SHARED);
	entry = hash_search_with_hash_value(entries, &key, hash, HASH_FIND, NULL);
	if (entry != NULL)
	{
		entry_add(entry, now);
		LWLockRelease(lock);
		return;
	}
	LWLockRelease(lock);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	entry = hash_search_with_hash_value(entries, &key, hash, HASH_ENTER_NULL, &found);
	if (entry == NULL)
	{
		/* Full: this request goes uncounted until the next flush makes room. */
		LWLockRelease(lock);
		pg_atomic_fetch_add_u64(&shared->dropped, 1);
		return;
	}
	if (!found)
	{
		SpinLockInit(&entry->mutex);
		entry->requests = 0;
		entry->last_used = 0;
	}
	entry_add(entry, now);
	LWLockRelease(lock);
}

/* ---------------------------------------------------------------------------------------------
 * Writing, in the worker
 * ------------------------------------------------------------------------------------------- */

typedef struct Pending
{
	UsageKey key;
	int64 requests;
	TimestampTz last_used;
} Pending;

/* What this database's entries hold now, in the current memory context. */
static Pending *
usage_collect(int *count)
{
	HASH_SEQ_STATUS scan;
	UsageEntry *entry;
	Pending *pending;
	int n = 0;
	int size = 64;

	pending = palloc(size * sizeof(Pending));
	for (int i = 0; i < USAGE_PARTITIONS; i++)
		LWLockAcquire(&shared->partitions.locks[i].lock, LW_SHARED);
	hash_seq_init(&scan, entries);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (entry->key.dbid != MyDatabaseId)
			continue;
		if (n == size)
		{
			size *= 2;
			pending = repalloc(pending, size * sizeof(Pending));
		}
		pending[n].key = entry->key;
		SpinLockAcquire(&entry->mutex);
		pending[n].requests = entry->requests;
		pending[n].last_used = entry->last_used;
		SpinLockRelease(&entry->mutex);
		if (pending[n].requests > 0)
			n++;
	}
	for (int i = USAGE_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&shared->partitions.locks[i].lock);
	*count = n;
	return pending;
}

/*
 * Add what was collected to billium.key_usage, in one statement.  False (and nothing written)
 * when this database has no billium with a key_usage table.
 */
static bool
usage_write(const Pending *pending, int count)
{
	Datum *ids = palloc(count * sizeof(Datum));
	Datum *times = palloc(count * sizeof(Datum));
	Datum *requests = palloc(count * sizeof(Datum));
	Oid types[3] = {UUIDARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID};
	Datum args[3];
	StringInfoData sql;
	char *schema = NULL;
	int ret;

	for (int i = 0; i < count; i++)
	{
		ids[i] = UUIDPGetDatum((pg_uuid_t *)&pending[i].key.key_id);
		times[i] = TimestampTzGetDatum(pending[i].last_used);
		requests[i] = Int64GetDatum(pending[i].requests);
	}
	args[0] = PointerGetDatum(construct_array(ids, count, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[1] = PointerGetDatum(
		construct_array(times, count, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(
		construct_array(requests, count, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE));

	ret =
		SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					"WHERE e.extname OPERATOR(pg_catalog.=) 'billium' AND pg_catalog.to_regclass("
					"pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.key_usage') "
					"IS NOT NULL",
					true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
		schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (schema == NULL)
		return false;

	/* Keys deleted since they were used are skipped: the join finds only existing keys. */
	initStringInfo(&sql);
	appendStringInfo(
		&sql,
		"INSERT INTO %s.key_usage AS u (key_id, merchant_id, last_used_at, request_count) "
		"SELECT k.id, k.merchant_id, f.last_used_at, f.request_count "
		"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) "
		"AS f(key_id, last_used_at, request_count) "
		"JOIN %s.api_keys k ON k.id OPERATOR(pg_catalog.=) f.key_id "
		"ON CONFLICT (key_id) DO UPDATE SET "
		"last_used_at = GREATEST(u.last_used_at, excluded.last_used_at), "
		"request_count = u.request_count OPERATOR(pg_catalog.+) excluded.request_count",
		schema, schema);
	ret = SPI_execute_with_args(sql.data, 3, types, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "billium: could not write key usage: SPI_execute_with_args returned %d", ret);
	return true;
}

/* Take what was written out of the entries; an entry left at zero is removed, making room. */
static void
usage_subtract(const Pending *pending, int count)
{
	for (int i = 0; i < count; i++)
	{
		uint32 hash = get_hash_value(entries, &pending[i].key);
		LWLock *lock = partition_lock(hash);
		UsageEntry *entry;
		bool empty = false;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		entry = hash_search_with_hash_value(entries, &pending[i].key, hash, HASH_FIND, NULL);
		if (entry != NULL)
		{
			SpinLockAcquire(&entry->mutex);
			entry->requests -= pending[i].requests;
			empty = entry->requests <= 0;
			SpinLockRelease(&entry->mutex);
			if (empty)
				hash_search_with_hash_value(entries, &pending[i].key, hash, HASH_REMOVE, NULL);
		}
		LWLockRelease(lock);
	}
	SpinLockAcquire(&shared->mutex);
	shared->last_flush = GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
}

static void
usage_flush(MemoryContext scratch)
{
	MemoryContext old = MemoryContextSwitchTo(scratch);
	Pending *pending;
	int count;
	bool written;

	pending = usage_collect(&count);
	if (count > 0)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "billium: writing key usage");
		written = usage_write(pending, count);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		/* Only what is committed leaves memory: a failed write keeps the counts for the next. */
		if (written)
			usage_subtract(pending, count);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(scratch);
}

void
billium_usage_worker_main(Datum arg pg_attribute_unused())
{
	MemoryContext scratch;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(usage_database, NULL, 0);
	pg_atomic_write_u32(&shared->database_id, MyDatabaseId);
	scratch = AllocSetContextCreate(TopMemoryContext, "billium key usage", ALLOCSET_DEFAULT_SIZES);
	ereport(LOG, errmsg("billium key usage worker started in database \"%s\"", usage_database));

	while (!ShutdownRequestPending)
	{
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						(long)flush_interval * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* A hot standby counts but cannot write: the counts wait for a promotion. */
		if (!RecoveryInProgress())
			usage_flush(scratch);
	}
	/* A clean shutdown (smart or fast) writes what was counted since the last flush. */
	if (!RecoveryInProgress())
		usage_flush(scratch);
	proc_exit(0);
}

static void
usage_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* Consistent state, not recovery finished: on a standby it still names the database counted. */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "billium");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "billium_usage_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "billium key usage");
	snprintf(worker.bgw_type, BGW_MAXLEN, "billium key usage");
	RegisterBackgroundWorker(&worker);
}

void
usage_init(void)
{
	DefineCustomBoolVariable(
		"billium.track_usage", "Count each API key's requests and last use (key_usage).",
		"Counted in shared memory and written by a background worker every "
		"billium.usage_flush_interval; needs billium in shared_preload_libraries.",
		&track_usage, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"billium.usage_flush_interval", "How often the usage worker writes the counts.",
		"Also the most a crash can lose: counts not yet written are in memory only.",
		&flush_interval, 10, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	RegisterXactCallback(usage_xact_callback, NULL);

	/* Loaded by a backend rather than preloaded: nothing is counted. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	preloaded = true;
	DefineCustomStringVariable(
		"billium.usage_database", "The database whose key usage is counted and written.",
		"The usage worker connects to it, as pg_cron's cron.database_name; keys verified in "
		"other databases are not counted.",
		&usage_database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"billium.usage_max_keys", "Keys whose usage shared memory holds between two flushes.",
		"When all are in use, a key without an entry goes uncounted until the next flush "
		"frees room (billium_key_usage_status() counts those requests).",
		&usage_max_keys, 10000, 16, 10000000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = usage_shmem_request;
#else
	usage_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = usage_shmem_startup;
	usage_register_worker();
}

/* ---------------------------------------------------------------------------------------------
 * billium_key_usage_status()
 * ------------------------------------------------------------------------------------------- */

/* Whether this backend's verifications are counted, and why not when they are not. */
static const char *
tracking_reason(bool *tracking)
{
	Oid dbid;

	*tracking = false;
	if (!preloaded || entries == NULL)
		return "billium is not in shared_preload_libraries: usage is not tracked";
	if (!track_usage)
		return "billium.track_usage is off";
	dbid = pg_atomic_read_u32(&shared->database_id);
	if (dbid == InvalidOid)
		return "the usage worker has not connected to billium.usage_database yet";
	if (dbid != MyDatabaseId)
		return "usage is tracked in billium.usage_database, not in this database";
	*tracking = true;
	if (RecoveryInProgress())
		return "counted in this hot standby's memory; written only if it is promoted";
	return "counted in shared memory and written by the usage worker";
}

PG_FUNCTION_INFO_V1(billium_key_usage_status);
Datum
billium_key_usage_status(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum values[8];
	bool nulls[8] = {false, false, true, false, true, true, true, true};
	bool tracking;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	values[1] = CStringGetTextDatum(tracking_reason(&tracking));
	values[0] = BoolGetDatum(tracking);
	if (usage_database != NULL)
	{
		values[2] = CStringGetTextDatum(usage_database);
		nulls[2] = false;
	}
	values[3] = Int32GetDatum(flush_interval);
	if (entries != NULL)
	{
		TimestampTz last_flush;
		long pending = 0;

		for (int i = 0; i < USAGE_PARTITIONS; i++)
			LWLockAcquire(&shared->partitions.locks[i].lock, LW_SHARED);
		pending = hash_get_num_entries(entries);
		for (int i = USAGE_PARTITIONS - 1; i >= 0; i--)
			LWLockRelease(&shared->partitions.locks[i].lock);
		SpinLockAcquire(&shared->mutex);
		last_flush = shared->last_flush;
		SpinLockRelease(&shared->mutex);

		values[4] = Int32GetDatum((int32)pending);
		values[5] = Int32GetDatum(usage_max_keys);
		values[6] = Int64GetDatum((int64)pg_atomic_read_u64(&shared->dropped));
		values[7] = TimestampTzGetDatum(last_flush);
		nulls[4] = nulls[5] = nulls[6] = false;
		nulls[7] = last_flush == 0;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
