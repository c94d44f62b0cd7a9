/*
 * json_input.h: JSON from outside (request headers, token segments, settings) read without ever
 * raising: a parse error's context would quote the input, and the input may hold a key or token.
 */
#ifndef BILLIUM_JSON_INPUT_H
#define BILLIUM_JSON_INPUT_H

#include "utils/jsonb.h"

/*
 * text[0..len) (NUL-terminated at len) as a jsonb object; NULL when it is not exactly one, or is
 * nested too deep, holds a number numeric cannot, or names a member of the object twice.
 */
extern Jsonb *json_object_quietly(const char *text, size_t len);

#endif
