/*
 * parse_permset.h: the text form of billium_permset, parsed without the server.
 *
 *   {invoice:view, product:*}   names, domain wildcards and "*" inside braces
 */
#ifndef BILLIUM_PARSE_PERMSET_H
#define BILLIUM_PARSE_PERMSET_H

#include <stddef.h>
#include <stdint.h>

typedef enum PermsetParseStatus
{
	PERMSET_OK = 0,
	PERMSET_MISSING_OPEN_BRACE,	 /* input does not start with "{" */
	PERMSET_MISSING_CLOSE_BRACE, /* input ends before "}" */
	PERMSET_EMPTY_ELEMENT,		 /* "{a,,b}" or "{a,}" */
	PERMSET_UNKNOWN_PERMISSION,	 /* token names no permission, domain wildcard or "*" */
	PERMSET_TRAILING_GARBAGE,	 /* something after the closing "}" */
	PERMSET_NESTED_BRACE		 /* "{" inside a set: sets do not nest */
} PermsetParseStatus;

/* Where parsing stopped: the offending token, pointing into the input. */
typedef struct PermsetParseError
{
	const char *token;
	size_t token_len;
} PermsetParseError;

/*
 * Parse a whole permission set.  On success *mask holds the set; otherwise error says which token
 * was at fault.  input must be NUL-terminated.
 */
extern PermsetParseStatus billium_parse_permset(const char *input, uint64_t *mask,
												PermsetParseError *error);

/*
 * Parse one element: "invoice:view", "invoice:*" or "*".  Returns PERMSET_OK or
 * PERMSET_UNKNOWN_PERMISSION.
 */
extern PermsetParseStatus billium_parse_permission_token(const char *token, size_t len,
														 uint64_t *mask);

/*
 * The domain a bad token was reaching for ("invoice" for "invoice:fly" or "invoice"), so an error
 * can list that domain's permissions; NULL when no domain matches.
 */
extern const char *billium_token_domain(const char *token, size_t len);

#endif
