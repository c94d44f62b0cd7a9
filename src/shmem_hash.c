/*
 * shmem_hash.c: the set-up of a partitioned fixed-size hash in shared memory (see shmem_hash.h).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "shmem_hash.h"

/* The shared memory the header and a table of max_entries take. */
Size
shmem_hash_size(const ShmemHashSpec *spec, long max_entries)
{
	return add_size(MAXALIGN(spec->header_size), hash_estimate_size(max_entries, spec->entry_size));
}

/* From the shmem_request_hook (before 15, _PG_init): the memory and the partition locks. */
void
shmem_hash_request(const ShmemHashSpec *spec, long max_entries)
{
	RequestAddinShmemSpace(shmem_hash_size(spec, max_entries));
	RequestNamedLWLockTranche(spec->tranche, spec->partitions);
}

/*
 * From the shmem_startup_hook, under AddinShmemInitLock: the header (its locks set when it is
 * new, *found false: the caller sets the rest) and *hash.  Fixed size: a full table takes no
 * other shared memory, and each part says what it does then.
 */
void *
shmem_hash_init(const ShmemHashSpec *spec, long max_entries, HTAB **hash, bool *found)
{
	ShmemHashLocks *header;
	HASHCTL info;

	Assert(LWLockHeldByMeInMode(AddinShmemInitLock, LW_EXCLUSIVE));
	header = ShmemInitStruct(spec->header_name, spec->header_size, found);
	if (!*found)
	{
		header->locks = GetNamedLWLockTranche(spec->tranche);
		header->partitions = spec->partitions;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = spec->key_size;
	info.entrysize = spec->entry_size;
	info.num_partitions = spec->partitions;
	*hash = ShmemInitHash(spec->hash_name, max_entries, max_entries, &info,
						  HASH_ELEM | HASH_BLOBS | HASH_PARTITION | HASH_FIXED_SIZE);
	return header;
}
