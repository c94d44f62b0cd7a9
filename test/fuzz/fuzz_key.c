/*
 * fuzz_key.c: billium_parse_key, the API key format and its CRC-32 checksum.
 *
 * Properties, besides "no sanitizer report":
 *   - a key parsed as KEY_OK is 99 characters, starts with the prefix of the type it was given,
 *     is base62 after it, and its last 6 characters equal billium_key_checksum of the 93 before
 *     them (re-checksummed, it equals itself);
 *   - generative: the input, mapped onto the alphabet and given its checksum, is KEY_OK, and
 *     changing any one of its 96 body characters to another base62 character makes it
 *     KEY_BAD_CHECKSUM (CRC-32 catches every single-byte change, and six base62 digits hold every
 *     32-bit value distinctly);
 *   - billium_crc32 matches a bitwise reference implementation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "parse_key.h"

static int
is_base62(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static uint32_t
crc32_reference(const unsigned char *data, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++)
	{
		crc ^= data[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
	}
	return ~crc;
}

static void
check_parsed(const char *key, size_t len, KeyParseStatus status, BilliumKeyType type)
{
	char checksum[BILLIUM_KEY_CHECKSUM_LEN];

	if (status != KEY_OK)
		return;
	FUZZ_CHECK(len == BILLIUM_KEY_LEN);
	FUZZ_CHECK(type == BILLIUM_KEY_SECRET || type == BILLIUM_KEY_PUBLIC);
	FUZZ_CHECK(memcmp(key, type == BILLIUM_KEY_SECRET ? "sk_" : "pk_", 3) == 0);
	FUZZ_CHECK(strcmp(billium_key_type_name(type), type == BILLIUM_KEY_SECRET ? "sk" : "pk") == 0);
	for (size_t i = BILLIUM_KEY_PREFIX_LEN; i < len; i++)
		FUZZ_CHECK(is_base62((unsigned char)key[i]));
	billium_key_checksum(key, BILLIUM_KEY_LEN - BILLIUM_KEY_CHECKSUM_LEN, checksum);
	FUZZ_CHECK(memcmp(checksum, key + BILLIUM_KEY_LEN - BILLIUM_KEY_CHECKSUM_LEN,
					  BILLIUM_KEY_CHECKSUM_LEN) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	BilliumKeyType type = (BilliumKeyType)-1;
	KeyParseStatus status;

	/* As the server calls it: counted, no NUL needed; ASan sees any read past the end. */
	status = billium_parse_key((const char *)data, size, &type);
	FUZZ_CHECK(status >= KEY_OK && status <= KEY_BAD_CHECKSUM);
	FUZZ_CHECK((status == KEY_EMPTY) == (size == 0));
	check_parsed((const char *)data, size, status, type);

	FUZZ_CHECK(billium_crc32(data, size) == crc32_reference(data, size));

	/* Generative: a well-formed key built from the input. */
	if (size >= 1)
	{
		char key[BILLIUM_KEY_LEN];
		BilliumKeyType want = (data[0] & 1) ? BILLIUM_KEY_PUBLIC : BILLIUM_KEY_SECRET;
		size_t pos;
		unsigned char flip;

		memcpy(key, want == BILLIUM_KEY_SECRET ? "sk_" : "pk_", 3);
		for (size_t i = 0; i < BILLIUM_KEY_RANDOM_LEN; i++)
			key[3 + i] = billium_base62_alphabet[(i + 1 < size ? data[i + 1] : i) % 62];
		billium_key_checksum(key, BILLIUM_KEY_LEN - BILLIUM_KEY_CHECKSUM_LEN,
							 key + BILLIUM_KEY_LEN - BILLIUM_KEY_CHECKSUM_LEN);
		status = billium_parse_key(key, BILLIUM_KEY_LEN, &type);
		FUZZ_CHECK(status == KEY_OK && type == want);
		check_parsed(key, BILLIUM_KEY_LEN, status, type);

		/* One character changed, anywhere in the body: refused by the checksum. */
		pos = BILLIUM_KEY_PREFIX_LEN + data[0] % BILLIUM_KEY_BODY_LEN;
		flip = (unsigned char)(1 + (size > 1 ? data[size - 1] : 7) % 61);
		{
			const char *at = strchr(billium_base62_alphabet, key[pos]);

			key[pos] = billium_base62_alphabet[((size_t)(at - billium_base62_alphabet) + flip) % 62];
		}
		FUZZ_CHECK(billium_parse_key(key, BILLIUM_KEY_LEN, &type) == KEY_BAD_CHECKSUM);
		/* And one character short: a length error, never a checksum one. */
		FUZZ_CHECK(billium_parse_key(key, BILLIUM_KEY_LEN - 1, &type) == KEY_BAD_LENGTH);
	}
	return 0;
}
