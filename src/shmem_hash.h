/*
 * shmem_hash.h: a partitioned, fixed-size dynahash in shared memory behind a header struct, with
 * one LWLock per partition from a named tranche (the rate limiter's buckets, the key usage
 * counts).  Each part keeps its own hooks, names and sizes; this holds what they set up alike.
 */
#ifndef BILLIUM_SHMEM_HASH_H
#define BILLIUM_SHMEM_HASH_H

#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* The partition locks; the first member of a part's shared header struct. */
typedef struct ShmemHashLocks
{
	LWLockPadded *locks; /* partitions of them */
	int partitions;
} ShmemHashLocks;

/* What a part's table is: its names and sizes. */
typedef struct ShmemHashSpec
{
	const char *header_name; /* ShmemInitStruct's name for the header */
	Size header_size;		 /* the header struct, which begins with a ShmemHashLocks */
	const char *hash_name;	 /* ShmemInitHash's name for the table */
	Size key_size;
	Size entry_size; /* an entry begins with its key */
	const char *tranche;
	int partitions; /* a power of two: dynahash picks partitions by hash bits */
} ShmemHashSpec;

extern Size shmem_hash_size(const ShmemHashSpec *spec, long max_entries);
extern void shmem_hash_request(const ShmemHashSpec *spec, long max_entries);
extern void *shmem_hash_init(const ShmemHashSpec *spec, long max_entries, HTAB **hash, bool *found);

/* The lock of the partition that holds hash (a hash value from get_hash_value). */
static inline LWLock *
shmem_hash_partition_lock(const ShmemHashLocks *locks, uint32 hash)
{
	return &locks->locks[hash % locks->partitions].lock;
}

#endif
