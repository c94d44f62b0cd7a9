/*
 * jwt_signature.c: JWS signatures in the form OpenSSL verifies.  Pure C with OpenSSL: no server
 * calls, so the fuzz target links it as it is.
 */
#include "jwt_signature.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>

unsigned char *
billium_es256_der(const unsigned char *signature, size_t len, int *der_len)
{
	ECDSA_SIG *sig;
	BIGNUM *r, *s;
	unsigned char *der = NULL;

	*der_len = 0;
	/* The length first: the halves are read only from a signature that has them. */
	if (len != BILLIUM_ES256_SIGNATURE_LEN)
		return NULL;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(signature, 32, NULL);
	s = BN_bin2bn(signature + 32, 32, NULL);
	if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1)
	{
		r = s = NULL; /* owned by sig now */
		*der_len = i2d_ECDSA_SIG(sig, &der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	if (*der_len <= 0)
	{
		*der_len = 0;
		return NULL;
	}
	return der;
}
