/*
 * fuzz_common.h: what every billium fuzz target shares.  A failed property aborts, so libFuzzer
 * records the input as a crash exactly as it would a sanitizer report.
 */
#ifndef BILLIUM_FUZZ_COMMON_H
#define BILLIUM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
	do                                                                                             \
	{                                                                                              \
		if (!(cond))                                                                               \
		{                                                                                          \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);           \
			abort();                                                                               \
		}                                                                                          \
	} while (0)

#endif
