/*
 * factors.c: the security factors, in the order the error envelope lists them.
 */
#include "factors.h"

const BilliumFactor billium_factors[] = {
	{"tfa", "tfa_enabled", "enforce_tfa"},
	{"passkey", "passkey_enabled", "enforce_passkey"},
	{"googleLogin", "google_linked", "enforce_google_login"},
	{"githubLogin", "github_linked", "enforce_github_login"},
	{"emailVerified", "email_verified", "enforce_email_verified"},
};

const int billium_factor_count = sizeof(billium_factors) / sizeof(billium_factors[0]);

/* The missing factors are the bits of an int. */
_Static_assert(sizeof(billium_factors) / sizeof(billium_factors[0]) < 31,
			   "a missing-factor mask is an int");
