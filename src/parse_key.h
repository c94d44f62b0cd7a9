/*
 * parse_key.h: the API key format, checked without the server.
 *
 *   {sk|pk}_{90 random base62}{6 base62 checksum}
 *
 * The checksum is the CRC-32 (IEEE, as zlib's crc32 and GitHub's token format) of everything
 * before it, in base62, so a typo is refused without a table lookup and a secret scanner can
 * confirm a leaked key offline with any language's zlib.
 */
#ifndef BILLIUM_PARSE_KEY_H
#define BILLIUM_PARSE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define BILLIUM_KEY_PREFIX_LEN	 3 /* "sk_" */
#define BILLIUM_KEY_RANDOM_LEN	 90
#define BILLIUM_KEY_CHECKSUM_LEN 6
#define BILLIUM_KEY_BODY_LEN	 (BILLIUM_KEY_RANDOM_LEN + BILLIUM_KEY_CHECKSUM_LEN) /* 96 */
#define BILLIUM_KEY_LEN			 (BILLIUM_KEY_PREFIX_LEN + BILLIUM_KEY_BODY_LEN)	 /* 99 */

typedef enum BilliumKeyType
{
	BILLIUM_KEY_SECRET, /* sk_ */
	BILLIUM_KEY_PUBLIC	/* pk_ */
} BilliumKeyType;

typedef enum KeyParseStatus
{
	KEY_OK = 0,
	KEY_EMPTY,
	KEY_BAD_PREFIX,	   /* neither "sk_" nor "pk_" */
	KEY_BAD_LENGTH,	   /* not 96 characters after the prefix */
	KEY_BAD_CHARACTER, /* outside 0-9, A-Z, a-z */
	KEY_BAD_CHECKSUM   /* well-shaped, but the last 6 characters do not match */
} KeyParseStatus;

extern const char billium_base62_alphabet[63];

/* Check a key's format and checksum; *type says which kind it is when KEY_OK. */
extern KeyParseStatus billium_parse_key(const char *key, size_t len, BilliumKeyType *type);

/* CRC-32 (IEEE 802.3, reflected, as zlib). */
extern uint32_t billium_crc32(const unsigned char *data, size_t len);

/* The 6 base62 checksum characters of key[0..len), written to out (not NUL-terminated). */
extern void billium_key_checksum(const char *key, size_t len, char out[BILLIUM_KEY_CHECKSUM_LEN]);

/* "sk" or "pk". */
extern const char *billium_key_type_name(BilliumKeyType type);

#endif
