/*
 * parse_key.c: API key format and checksum; pure C so it can be fuzzed outside the server.
 */
#include "parse_key.h"

#include <string.h>

const char billium_base62_alphabet[63] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int
is_base62(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The byte-at-a-time table, filled on first use; every request checks a checksum. */
static uint32_t crc_table[256];
static int crc_table_ready = 0;

static void
crc_table_fill(void)
{
	for (uint32_t byte = 0; byte < 256; byte++)
	{
		uint32_t crc = byte;

		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
		crc_table[byte] = crc;
	}
	crc_table_ready = 1;
}

uint32_t
billium_crc32(const unsigned char *data, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	if (!crc_table_ready)
		crc_table_fill();
	for (size_t i = 0; i < len; i++)
		crc = (crc >> 8) ^ crc_table[(crc ^ data[i]) & 0xFFu];
	return ~crc;
}

void
billium_key_checksum(const char *key, size_t len, char out[BILLIUM_KEY_CHECKSUM_LEN])
{
	uint32_t crc = billium_crc32((const unsigned char *)key, len);

	/* Most significant digit first, zero-padded: 62^6 > 2^32, so six digits always suffice. */
	for (int i = BILLIUM_KEY_CHECKSUM_LEN - 1; i >= 0; i--)
	{
		out[i] = billium_base62_alphabet[crc % 62];
		crc /= 62;
	}
}

const char *
billium_key_type_name(BilliumKeyType type)
{
	return type == BILLIUM_KEY_SECRET ? "sk" : "pk";
}

KeyParseStatus
billium_parse_key(const char *key, size_t len, BilliumKeyType *type)
{
	char expected[BILLIUM_KEY_CHECKSUM_LEN];
	const char *checksum = key + BILLIUM_KEY_LEN - BILLIUM_KEY_CHECKSUM_LEN;

	if (len == 0)
		return KEY_EMPTY;
	if (len >= BILLIUM_KEY_PREFIX_LEN && memcmp(key, "sk_", BILLIUM_KEY_PREFIX_LEN) == 0)
		*type = BILLIUM_KEY_SECRET;
	else if (len >= BILLIUM_KEY_PREFIX_LEN && memcmp(key, "pk_", BILLIUM_KEY_PREFIX_LEN) == 0)
		*type = BILLIUM_KEY_PUBLIC;
	else
		return KEY_BAD_PREFIX;
	if (len != BILLIUM_KEY_LEN)
		return KEY_BAD_LENGTH;
	for (size_t i = BILLIUM_KEY_PREFIX_LEN; i < len; i++)
		if (!is_base62(key[i]))
			return KEY_BAD_CHARACTER;

	billium_key_checksum(key, BILLIUM_KEY_LEN - BILLIUM_KEY_CHECKSUM_LEN, expected);
	if (memcmp(expected, checksum, BILLIUM_KEY_CHECKSUM_LEN) != 0)
		return KEY_BAD_CHECKSUM;
	return KEY_OK;
}
