/*
 * keys.h: API keys: generation, hashing, verification.
 */
#ifndef BILLIUM_KEYS_H
#define BILLIUM_KEYS_H

#include "lookup.h"

#define BILLIUM_KEY_HASH_LEN 32 /* SHA-256 */

/* The settings of the key functions (billium.max_roll_grace). */
extern void keys_init(void);

/* SHA-256 of the key text. */
extern void key_hash(const char *key, size_t len, uint8 hash[BILLIUM_KEY_HASH_LEN]);

/*
 * Verify a presented key: format first (a malformed key costs no lookup), then the hash's
 * unique index.  Raises the 401 envelope (with action, which may be NULL) for a malformed,
 * unknown, revoked or expired key.
 */
extern void key_verify(const char *key, size_t len, const char *action, KeyRecord *record);

#endif
