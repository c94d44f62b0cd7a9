/*
 * ratelimit.c: key-scoped rate limiting in shared memory.
 *
 * Every API key of a merchant draws from one bucket (billium.rate_limit_scope = key gives each
 * key its own).  A bucket is GCRA, the token bucket written as one number: the theoretical
 * arrival time "tat" of the next request, in microseconds.  With an interval T = 1 s / rate and
 * room for burst requests, a request at now is admitted when max(tat, now) + T <= now + burst*T,
 * and then tat moves to that sum.  A bucket whose tat is not after now is full, exactly as a new
 * bucket would be: that is what "idle" means here, and the only kind of bucket ever evicted.
 * tat is one 64-bit atomic updated by compare-and-swap, so admitting a request takes the
 * partition's lock in shared mode only; the lock is taken exclusively to add a bucket, and every
 * partition's lock to evict idle buckets when the table is full.  When no bucket is idle, the
 * request is refused (429): a busy merchant never gets a fresh bucket for free.
 *
 * The table lives in shared memory requested at postmaster start, so billium must be in
 * shared_preload_libraries; otherwise limiting is off and billium_rate_limit_status() says why.
 * Nothing here writes a table, so it works on a hot standby (each server counts its own).
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "cache.h"
#include "compat.h"
#include "errors.h"
#include "lookup.h"
#include "ratelimit.h"
#include "shmem_hash.h"
#include "xact_end.h"

#define RATELIMIT_PARTITIONS 16 /* a power of two: dynahash picks partitions by hash bits */
#define RATELIMIT_TRANCHE	 "billium_rate_limit"
#define MAX_BURST			 1000000
#define MAX_INTERVAL_US		 INT64CONST(1000000000000) /* one request per 11.6 days */
#define CHARGED_MAX			 8						   /* buckets remembered per transaction */

typedef enum RateLimitScope
{
	SCOPE_MERCHANT,
	SCOPE_KEY
} RateLimitScope;

static const struct config_enum_entry scope_options[] = {
	{"merchant", SCOPE_MERCHANT, false},
	{"key", SCOPE_KEY, false},
	{NULL, 0, false},
};

/* Settings. */
static double rate_limit = 0;
static int rate_burst = 0;
static int rate_scope = SCOPE_MERCHANT;
static int bucket_count = 10000;
static char *test_clock_setting = NULL;
static int64 test_clock = 0;

/* The bucket of a merchant or of a key, in one database: buckets are cluster-wide. */
typedef struct BucketKey
{
	pg_uuid_t id;
	Oid dbid;
	int32 scope;
} BucketKey;

typedef struct Bucket
{
	BucketKey key;		  /* hash key */
	pg_atomic_uint64 tat; /* µs; 0 for a new bucket */
} Bucket;

typedef struct RateLimitShared
{
	ShmemHashLocks partitions;	 /* first: shmem_hash.c sets it */
	pg_atomic_uint64 full_until; /* full with nothing idle: no new scan before this time */
} RateLimitShared;

static bool preloaded = false;
static RateLimitShared *shared = NULL;
static HTAB *buckets = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* The limits that apply to one bucket. */
typedef struct Limits
{
	double rate;		/* requests per second; 0: not limited */
	int64 burst;		/* requests a full bucket admits at once */
	int64 interval;		/* µs per request */
	bool from_merchant; /* the rate is the merchant's own */
} Limits;

/* Buckets charged in this transaction, so a transaction pays once per bucket. */
static BucketKey charged[CHARGED_MAX];
static int charged_count = 0;

/* ---------------------------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------------------------- */

static bool
check_test_clock(char **newval, void **extra pg_attribute_unused(),
				 GucSource source pg_attribute_unused())
{
	char *end;
	int64 value;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	errno = 0;
	value = strtoi64(*newval, &end, 10);
	if (errno != 0 || end == *newval || *end != '\0' || value < 0)
	{
		GUC_check_errdetail("billium.rate_limit_test_clock is microseconds since 2000-01-01 as a "
							"non-negative integer, or 0 for the real clock.");
		return false;
	}
	return true;
}

static void
assign_test_clock(const char *newval, void *extra pg_attribute_unused())
{
	test_clock = newval == NULL || newval[0] == '\0' ? 0 : strtoi64(newval, NULL, 10);
}

static int64
clock_now(void)
{
	return test_clock > 0 ? test_clock : (int64)GetCurrentTimestamp();
}

/* ---------------------------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------------------------- */

static const ShmemHashSpec bucket_table = {
	.header_name = "billium rate limit",
	.header_size = sizeof(RateLimitShared),
	.hash_name = "billium rate limit buckets",
	.key_size = sizeof(BucketKey),
	.entry_size = sizeof(Bucket),
	.tranche = RATELIMIT_TRANCHE,
	.partitions = RATELIMIT_PARTITIONS,
};

static void
ratelimit_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	shmem_hash_request(&bucket_table, bucket_count);
}

static void
ratelimit_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	/* Fixed size: a full table evicts or refuses, and never takes other shared memory. */
	shared = shmem_hash_init(&bucket_table, bucket_count, &buckets, &found);
	if (!found)
		pg_atomic_init_u64(&shared->full_until, 0);
	LWLockRelease(AddinShmemInitLock);
}

static LWLock *
partition_lock(uint32 hash)
{
	return shmem_hash_partition_lock(&shared->partitions, hash);
}

/* ---------------------------------------------------------------------------------------------
 * The merchants' own limits
 * ------------------------------------------------------------------------------------------- */

/*
 * The merchant's own rate and burst (billium.merchants.rate_limit, rate_burst), cached with the
 * merchant (rate_cache.c), stale once the merchant's row changes.
 */
static void
merchant_override(const pg_uuid_t *merchant_id, double *rate, int32 *burst)
{
	CacheFill fill;

	if (rate_cache_get(merchant_id, rate, burst))
		return;
	cache_fill_begin(&fill);
	lookup_merchant_rate(merchant_id, rate, burst);
	rate_cache_put(merchant_id, *rate, *burst, &fill);
}

/*
 * The limits for the merchant: its own rate and burst where set, else the settings.  A burst of
 * 0 (the default setting) means twice the rate, at least 1.  False when no limit applies.
 */
static bool
limits_for(const pg_uuid_t *merchant_id, Limits *limits)
{
	double own_rate = -1;
	int32 own_burst = -1;
	double burst;

	if (merchant_id != NULL)
		merchant_override(merchant_id, &own_rate, &own_burst);
	limits->from_merchant = own_rate >= 0;
	limits->rate = own_rate >= 0 ? own_rate : rate_limit;
	if (own_burst > 0)
		burst = own_burst;
	else if (rate_burst > 0)
		burst = rate_burst;
	else
		burst = ceil(2 * limits->rate);
	limits->burst = (int64)Max(1, Min(burst, MAX_BURST));
	if (!(limits->rate > 0))
	{
		limits->rate = 0;
		limits->interval = 0;
		return false;
	}
	limits->interval = (int64)Min(Max(rint(1e6 / limits->rate), 1), (double)MAX_INTERVAL_US);
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Buckets
 * ------------------------------------------------------------------------------------------- */

static void
bucket_key(BucketKey *key, const pg_uuid_t *id, int scope)
{
	memset(key, 0, sizeof(*key));
	key->id = *id;
	key->dbid = MyDatabaseId;
	key->scope = scope;
}

/*
 * Evict every idle bucket, under every partition's lock.  False when none was idle; *retry_us is
 * then the wait until the first one will be, and until then no other backend scans again.
 */
static bool
make_room(int64 now, int64 *retry_us)
{
	int64 until = (int64)pg_atomic_read_u64(&shared->full_until);
	int64 soonest = PG_INT64_MAX;
	long evicted = 0;
	HASH_SEQ_STATUS scan;
	Bucket *bucket;

	if (now < until)
	{
		*retry_us = until - now;
		return false;
	}
	for (int i = 0; i < RATELIMIT_PARTITIONS; i++)
		LWLockAcquire(&shared->partitions.locks[i].lock, LW_EXCLUSIVE);
	hash_seq_init(&scan, buckets);
	while ((bucket = hash_seq_search(&scan)) != NULL)
	{
		int64 tat = (int64)pg_atomic_read_u64(&bucket->tat);

		if (tat <= now)
		{
			hash_search(buckets, &bucket->key, HASH_REMOVE, NULL);
			evicted++;
		}
		else
			soonest = Min(soonest, tat - now);
	}
	if (evicted == 0)
		pg_atomic_write_u64(&shared->full_until, (uint64)(now + soonest));
	for (int i = RATELIMIT_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&shared->partitions.locks[i].lock);
	*retry_us = soonest;
	return evicted > 0;
}

/* The key's bucket, created when missing, with its partition's lock held; NULL when full. */
static Bucket *
bucket_get(const BucketKey *key, uint32 hash, int64 now, int64 *retry_us)
{
	LWLock *lock = partition_lock(hash);
	Bucket *bucket;
	bool found;

	LWLockAcquire(lock, LW_SHARED);
	bucket = hash_search_with_hash_value(buckets, key, hash, HASH_FIND, NULL);
	if (bucket != NULL)
		return bucket;
	LWLockRelease(lock);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	bucket = hash_search_with_hash_value(buckets, key, hash, HASH_ENTER_NULL, &found);
	if (bucket == NULL)
	{
		LWLockRelease(lock);
		if (!make_room(now, retry_us))
			return NULL;
		LWLockAcquire(lock, LW_EXCLUSIVE);
		bucket = hash_search_with_hash_value(buckets, key, hash, HASH_ENTER_NULL, &found);
		if (bucket == NULL)
		{
			/* Others took the room just made: they were first. */
			LWLockRelease(lock);
			*retry_us = 1000;
			return NULL;
		}
	}
	if (!found)
		pg_atomic_init_u64(&bucket->tat, 0);
	return bucket;
}

/* GCRA: admit one request at now, or say how long until one would be admitted. */
static bool
bucket_take(Bucket *bucket, const Limits *limits, int64 now, int64 *retry_us)
{
	int64 ceiling = now + limits->burst * limits->interval;
	uint64 old = pg_atomic_read_u64(&bucket->tat);

	for (;;)
	{
		/* Never more owed than an empty bucket: a lowered limit does not lock a merchant out. */
		int64 next = Min(Max((int64)old, now), ceiling) + limits->interval;

		if (next > ceiling)
		{
			*retry_us = next - ceiling;
			return false;
		}
		if (pg_atomic_compare_exchange_u64(&bucket->tat, &old, (uint64)next))
			return true;
	}
}

static bool
charged_this_transaction(const BucketKey *key)
{
	for (int i = 0; i < charged_count; i++)
		if (memcmp(&charged[i], key, sizeof(BucketKey)) == 0)
			return true;
	return false;
}

static void
ratelimit_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (xact_event_ends(event))
		charged_count = 0;
}

pg_noreturn static void refuse(const char *action, int64 retry_us);

static void
refuse(const char *action, int64 retry_us)
{
	char extra[64];

	snprintf(extra, sizeof(extra), ",\"retry_after_ms\":" INT64_FORMAT, (retry_us + 999) / 1000);
	billium_raise(BE_RATE_LIMITED, action, extra);
}

void
ratelimit_charge(const pg_uuid_t *merchant_id, const pg_uuid_t *key_id, const char *action)
{
	BucketKey key;
	Limits limits;
	Bucket *bucket;
	uint32 hash;
	int64 now;
	int64 retry_us = 0;
	bool admitted;

	if (buckets == NULL)
		return; /* not preloaded */
	bucket_key(&key, rate_scope == SCOPE_KEY ? key_id : merchant_id, rate_scope);
	if (charged_this_transaction(&key) || !limits_for(merchant_id, &limits))
		return;

	now = clock_now();
	hash = get_hash_value(buckets, &key);
	bucket = bucket_get(&key, hash, now, &retry_us);
	if (bucket == NULL)
		refuse(action, retry_us);
	admitted = bucket_take(bucket, &limits, now, &retry_us);
	LWLockRelease(partition_lock(hash));
	if (!admitted)
		refuse(action, retry_us);
	if (charged_count < CHARGED_MAX)
		charged[charged_count++] = key;
}

void
ratelimit_init(void)
{
	DefineCustomRealVariable(
		"billium.rate_limit", "Requests per second each merchant's API keys may make (0: off).",
		"All keys of a merchant share one bucket (see billium.rate_limit_scope); "
		"billium.merchants.rate_limit overrides it per merchant. Needs billium in "
		"shared_preload_libraries.",
		&rate_limit, 0, 0, 1000000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"billium.rate_burst",
		"Requests a full bucket admits at once (0: twice the rate, at least 1).",
		"billium.merchants.rate_burst overrides it per merchant.", &rate_burst, 0, 0, MAX_BURST,
		PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable(
		"billium.rate_limit_scope", "One rate-limit bucket per merchant (all its keys) or per key.",
		NULL, &rate_scope, SCOPE_MERCHANT, scope_options, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("billium.rate_limit_test_clock",
							   "For tests: the rate limiter's clock, in microseconds since "
							   "2000-01-01 (0: the real clock).",
							   NULL, &test_clock_setting, "0", PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, check_test_clock,
							   assign_test_clock, NULL);

	RegisterXactCallback(ratelimit_xact_callback, NULL);

	/* Loaded by a backend (CREATE EXTENSION, a first call) rather than preloaded: no limiter. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	preloaded = true;
	/* Sized at postmaster start: a library loaded later may not define a postmaster setting. */
	DefineCustomIntVariable(
		"billium.rate_limit_buckets", "Rate-limit buckets in shared memory (about 64 bytes each).",
		"When all are in use, idle (full) buckets are evicted; when none is "
		"idle, new merchants are refused with 429.",
		&bucket_count, 10000, 32, 10000000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ratelimit_shmem_request;
#else
	ratelimit_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ratelimit_shmem_startup;
}

/* ---------------------------------------------------------------------------------------------
 * Status (billium_rate_limit_status, in gate.c, which checks the caller first)
 * ------------------------------------------------------------------------------------------- */

bool
ratelimit_per_key(void)
{
	return rate_scope == SCOPE_KEY;
}

/* The bucket's tokens and the wait for the next admitted request, at now. */
static bool
bucket_peek(const BucketKey *key, const Limits *limits, int64 now, double *tokens, int64 *retry_us)
{
	uint32 hash = get_hash_value(buckets, key);
	LWLock *lock = partition_lock(hash);
	Bucket *bucket;
	int64 tat = 0;
	int64 span = limits->burst * limits->interval;
	int64 owed;

	LWLockAcquire(lock, LW_SHARED);
	bucket = hash_search_with_hash_value(buckets, key, hash, HASH_FIND, NULL);
	if (bucket != NULL)
		tat = (int64)pg_atomic_read_u64(&bucket->tat);
	LWLockRelease(lock);

	owed = Min(Max(tat - now, 0), span);
	*tokens = (double)(span - owed) / (double)limits->interval;
	*retry_us = Max(owed + limits->interval - span, 0);
	return bucket != NULL;
}

Datum
ratelimit_status(FunctionCallInfo fcinfo, const pg_uuid_t *merchant_id, const pg_uuid_t *key_id)
{
	TupleDesc desc;
	Datum values[7];
	bool nulls[7] = {false, false, false, false, false, true, true};
	Limits limits;
	bool limited;
	const char *reason;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	limited = limits_for(merchant_id, &limits);
	if (!preloaded)
		reason = "billium is not in shared_preload_libraries";
	else if (!limited)
		reason = limits.from_merchant ? "the merchant's own rate_limit is 0: not limited"
									  : "billium.rate_limit is 0: off";
	else
		reason = limits.from_merchant ? "the merchant's own rate_limit" : "billium.rate_limit";

	values[0] = BoolGetDatum(preloaded && buckets != NULL && limited);
	values[2] = CStringGetTextDatum(rate_scope == SCOPE_KEY ? "key" : "merchant");
	values[3] = Float4GetDatum((float4)limits.rate);
	values[4] = Int32GetDatum((int32)limits.burst);
	nulls[4] = !limited;
	if (merchant_id != NULL && buckets != NULL && limited)
	{
		/* One bucket per key: the caller's own, when it is one of the merchant's keys. */
		const pg_uuid_t *id = rate_scope == SCOPE_KEY ? key_id : merchant_id;

		if (id == NULL)
			reason = "billium.rate_limit_scope is key: each key has its own bucket, shown to "
					 "the key itself";
		else
		{
			BucketKey key;
			double tokens;
			int64 retry_us;

			bucket_key(&key, id, rate_scope);
			bucket_peek(&key, &limits, clock_now(), &tokens, &retry_us);
			values[5] = Float4GetDatum((float4)tokens);
			values[6] = Int64GetDatum((retry_us + 999) / 1000);
			nulls[5] = nulls[6] = false;
		}
	}
	values[1] = CStringGetTextDatum(reason);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * The bucket a key's request was charged to, for the RateLimit header fields of
 * draft-ietf-httpapi-ratelimit-headers.  The quota is the burst; the window, the seconds an empty
 * bucket takes to fill; the reset, the seconds until this one is full (or, when empty, until the
 * next request passes: the Retry-After's moment).  False when no limit applies.
 */
bool
ratelimit_current(const pg_uuid_t *merchant_id, const pg_uuid_t *key_id, RateLimitFields *fields)
{
	Limits limits;
	BucketKey key;
	double tokens;
	int64 retry_us, full_us;

	if (!preloaded || buckets == NULL || !limits_for(merchant_id, &limits))
		return false;
	bucket_key(&key, rate_scope == SCOPE_KEY ? key_id : merchant_id, rate_scope);
	bucket_peek(&key, &limits, clock_now(), &tokens, &retry_us);
	full_us = (int64)(((double)limits.burst - tokens) * (double)limits.interval);
	fields->quota = (int32)limits.burst;
	/* Rounded: a rate stored as real (0.01 as 0.0099999998) must not add a second to it. */
	fields->window_s =
		(int32)Min(Max((limits.burst * limits.interval + 500000) / 1000000, 1), PG_INT32_MAX);
	fields->remaining = (int32)floor(tokens);
	fields->reset_s =
		(int32)Min(((floor(tokens) < 1 ? retry_us : full_us) + 999999) / 1000000, PG_INT32_MAX);
	return true;
}
