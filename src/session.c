/*
 * session.c: dashboard sessions.  A compact JWS is split and decoded by the pure parser
 * (parse_jwt.c); its JSON is checked by the server's own JSON parser before jsonb reads it; its
 * signature is checked with the server's HMAC (HS256) or OpenSSL, which the server links
 * (RS256, ES256, keys from a JWKS document).  Signatures are compared in constant time, and the
 * token is never put in an error or a log line.
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#endif

#include "access/xact.h"
#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#include "common/hmac.h"
#endif
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "errors.h"
#include "json_input.h"
#include "jwt_signature.h"
#include "lookup.h"
#include "parse_jwt.h"
#include "secrets.h"
#include "session.h"

static char *session_token = NULL;
static char *jwt_secret = NULL;
static char *jwt_jwks = NULL;
static char *jwt_audience = NULL;
static char *jwt_issuer = NULL;
static int jwt_leeway = 30;
static bool trust_request_claims = false;
static void (*principal_changed)(void) = NULL;

static void
assign_session(const char *newval pg_attribute_unused(), void *extra pg_attribute_unused())
{
	if (principal_changed != NULL)
		principal_changed();
}

void
session_init(void (*assign)(void))
{
	principal_changed = assign;
	DefineCustomStringVariable(
		"billium.session", "The dashboard session token (a JWT) presented by this transaction.",
		"Set with SET LOCAL for one transaction; an empty value means no session. Never stored "
		"per role, database or function.",
		&session_token, "", PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
		secrets_check_credential, assign_session, NULL);
	/*
	 * Server-level: postgresql.conf, an included file or ALTER SYSTEM, applied on reload.  So with
	 * billium preloaded, ALTER ROLE/DATABASE ... SET and SET itself are refused: a value stored
	 * per role or database would be readable by every role in pg_db_role_setting.
	 */
	DefineCustomStringVariable(
		"billium.jwt_secret", "The HS256 secret of dashboard session tokens.",
		"Set in postgresql.conf (or an included file, or ALTER SYSTEM) and reload; readable by "
		"superusers only.",
		&jwt_secret, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, NULL,
		NULL, NULL);
	DefineCustomStringVariable("billium.jwt_jwks",
							   "Public keys (a JWKS document) for RS256 and ES256 session tokens.",
							   NULL, &jwt_jwks, "", PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	DefineCustomStringVariable("billium.jwt_audience",
							   "The aud a session token must carry; empty: not checked.", NULL,
							   &jwt_audience, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("billium.jwt_issuer",
							   "The iss a session token must carry; empty: not checked.", NULL,
							   &jwt_issuer, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("billium.jwt_leeway", "Seconds of clock skew allowed for exp and nbf.",
							NULL, &jwt_leeway, 30, 0, 3600, PGC_SUSET, GUC_UNIT_S, NULL, NULL,
							NULL);
	DefineCustomBoolVariable(
		"billium.trust_request_claims",
		"Take the dashboard user from request.jwt.claims, which PostgREST has already verified.",
		NULL, &trust_request_claims, false, PGC_SUSET, 0, NULL, NULL, NULL);
}

const char *
session_setting_token(void)
{
	return session_token != NULL && session_token[0] != '\0' ? session_token : NULL;
}

pg_noreturn static void invalid(const char *action);

static void
invalid(const char *action)
{
	billium_raise(BE_SESSION_INVALID, action, NULL);
}

/* A base64url segment decoded; NULL when it is not strict base64url. */
static unsigned char *
decode_segment(const JwtSegment *segment, size_t *len)
{
	unsigned char *bytes = palloc(billium_base64url_decoded_len(segment->len) + 1);
	long n = billium_base64url_decode(segment->text, segment->len, bytes);

	if (n < 0)
		return NULL;
	bytes[n] = '\0';
	*len = (size_t)n;
	return bytes;
}

static JsonbValue *
member(Jsonb *json, const char *name)
{
	return getKeyJsonValueFromContainer(&json->root, name, strlen(name), NULL);
}

/* The member as a NUL-terminated string, or NULL when absent or not a string. */
static char *
member_string(Jsonb *json, const char *name)
{
	JsonbValue *value = member(json, name);

	if (value == NULL || value->type != jbvString)
		return NULL;
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/* A NumericDate member (seconds since the epoch), or false when absent or not a number. */
static bool
member_seconds(Jsonb *json, const char *name, double *seconds)
{
	JsonbValue *value = member(json, name);

	if (value == NULL || value->type != jbvNumeric)
		return false;
	*seconds = DatumGetFloat8(
		DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(value->val.numeric)));
	return true;
}

static bool
hs256_verifies(const JwtParts *parts, const unsigned char *signature, size_t signature_len)
{
	unsigned char expected[32];
	size_t secret_len = strlen(jwt_secret);
	bool ok;

	if (secret_len == 0 || signature_len != sizeof(expected))
		return false;
#if PG_VERSION_NUM >= 140000
	{
		pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

		ok = ctx != NULL && pg_hmac_init(ctx, (const uint8 *)jwt_secret, secret_len) == 0 &&
			 pg_hmac_update(ctx, (const uint8 *)parts->header.text, parts->signed_len) == 0 &&
			 pg_hmac_final(ctx, expected, sizeof(expected)) == 0;
		pg_hmac_free(ctx);
	}
#else
	ok = HMAC(EVP_sha256(), jwt_secret, (int)secret_len, (const unsigned char *)parts->header.text,
			  parts->signed_len, expected, NULL) != NULL;
#endif
	return ok && CRYPTO_memcmp(expected, signature, sizeof(expected)) == 0;
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L

/* A base64url member of a JWK, decoded; NULL when absent or malformed. */
static unsigned char *
jwk_bytes(Jsonb *jwk, const char *name, size_t *len)
{
	char *text = member_string(jwk, name);
	JwtSegment segment;

	if (text == NULL)
		return NULL;
	segment.text = text;
	segment.len = strlen(text);
	return decode_segment(&segment, len);
}

/* An OpenSSL public key from a JWK (RSA n/e, or EC P-256 x/y); NULL when it is not one. */
static EVP_PKEY *
jwk_public_key(Jsonb *jwk, const char *alg)
{
	char *kty = member_string(jwk, "kty");
	OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *n = NULL;
	BIGNUM *e = NULL;
	size_t a_len, b_len;
	unsigned char *a, *b;

	if (kty == NULL || build == NULL)
		goto done;
	if (strcmp(alg, "RS256") == 0 && strcmp(kty, "RSA") == 0)
	{
		if ((a = jwk_bytes(jwk, "n", &a_len)) == NULL || (b = jwk_bytes(jwk, "e", &b_len)) == NULL)
			goto done;
		n = BN_bin2bn(a, (int)a_len, NULL);
		e = BN_bin2bn(b, (int)b_len, NULL);
		if (n == NULL || e == NULL || !OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, n) ||
			!OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, e))
			goto done;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	}
	else if (strcmp(alg, "ES256") == 0 && strcmp(kty, "EC") == 0)
	{
		char *crv = member_string(jwk, "crv");
		unsigned char point[65];

		if (crv == NULL || strcmp(crv, "P-256") != 0 || (a = jwk_bytes(jwk, "x", &a_len)) == NULL ||
			(b = jwk_bytes(jwk, "y", &b_len)) == NULL || a_len != 32 || b_len != 32)
			goto done;
		point[0] = 0x04; /* uncompressed */
		memcpy(point + 1, a, 32);
		memcpy(point + 33, b, 32);
		if (!OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
			!OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
			goto done;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	else
		goto done;

	params = OSSL_PARAM_BLD_to_param(build);
	if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		key = NULL;
done:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(build);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return key;
}

/* The JWK of billium.jwt_jwks for kid (or the only key, when the token names none). */
static Jsonb *
jwks_key(const char *kid)
{
	Jsonb *jwks;
	JsonbValue *keys;
	JsonbIterator *it;
	JsonbValue v;
	JsonbIteratorToken token;
	Jsonb *found = NULL;
	int count = 0;

	if (jwt_jwks == NULL || jwt_jwks[0] == '\0' ||
		(jwks = json_object_quietly(jwt_jwks, strlen(jwt_jwks))) == NULL ||
		(keys = member(jwks, "keys")) == NULL || keys->type != jbvBinary)
		return NULL;
	it = JsonbIteratorInit(keys->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		Jsonb *jwk;
		char *key_id;

		if (token != WJB_ELEM || v.type != jbvBinary)
			continue;
		jwk = JsonbValueToJsonb(&v);
		if (!JB_ROOT_IS_OBJECT(jwk))
			continue;
		count++;
		key_id = member_string(jwk, "kid");
		if (kid == NULL || (key_id != NULL && strcmp(key_id, kid) == 0))
			found = jwk;
	}
	return kid == NULL && count != 1 ? NULL : found;
}

static bool
public_key_verifies(const JwtParts *parts, const char *alg, const char *kid,
					const unsigned char *signature, size_t signature_len)
{
	Jsonb *jwk = jwks_key(kid);
	EVP_PKEY *key = jwk != NULL ? jwk_public_key(jwk, alg) : NULL;
	EVP_MD_CTX *md = key != NULL ? EVP_MD_CTX_new() : NULL;
	unsigned char *der = NULL;
	int der_len = 0;
	bool ok = false;

	if (md != NULL && strcmp(alg, "ES256") == 0)
		der = billium_es256_der(signature, signature_len, &der_len);
	if (md != NULL && (strcmp(alg, "RS256") == 0 || der != NULL) &&
		EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1)
		ok = EVP_DigestVerify(md, der != NULL ? der : signature,
							  der != NULL ? (size_t)der_len : signature_len,
							  (const unsigned char *)parts->header.text, parts->signed_len) == 1;
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok;
}

#else

static bool
public_key_verifies(const JwtParts *parts pg_attribute_unused(),
					const char *alg pg_attribute_unused(), const char *kid pg_attribute_unused(),
					const unsigned char *signature pg_attribute_unused(),
					size_t signature_len pg_attribute_unused())
{
	return false; /* RS256 and ES256 need OpenSSL 3 */
}

#endif

/* Does the token's aud (a string or an array of strings) name billium.jwt_audience? */
static bool
audience_matches(Jsonb *claims)
{
	JsonbValue *aud = member(claims, "aud");
	size_t want = strlen(jwt_audience);

	if (aud == NULL)
		return false;
	if (aud->type == jbvString)
		return aud->val.string.len == (int)want &&
			   memcmp(aud->val.string.val, jwt_audience, want) == 0;
	if (aud->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(aud->val.binary.data);
		JsonbValue v;
		JsonbIteratorToken token;

		while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (token == WJB_ELEM && v.type == jbvString && v.val.string.len == (int)want &&
				memcmp(v.val.string.val, jwt_audience, want) == 0)
				return true;
	}
	return false;
}

/* A canonical uuid string (8-4-4-4-12 hex), so uuid_in cannot raise on it. */
static bool
parse_uuid(const char *text, pg_uuid_t *uuid)
{
	static const int dashes[] = {8, 13, 18, 23};

	if (text == NULL || strlen(text) != 36)
		return false;
	for (int i = 0, d = 0; i < 36; i++)
	{
		if (d < 4 && i == dashes[d])
		{
			if (text[i] != '-')
				return false;
			d++;
		}
		else if (!isxdigit((unsigned char)text[i]))
			return false;
	}
	*uuid = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(text)));
	return true;
}

static void
check_claims(Jsonb *claims, const char *action, pg_uuid_t *user_id)
{
	double now = (double)(GetCurrentTransactionStartTimestamp() / USECS_PER_SEC) +
				 (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	double exp;
	double nbf;
	char *issuer;

	/* A session without an expiry is refused: it could never be taken back. */
	if (!member_seconds(claims, "exp", &exp))
		invalid(action);
	if (now >= exp + jwt_leeway)
		billium_raise(BE_SESSION_EXPIRED, action, NULL);
	if (member(claims, "nbf") != NULL &&
		(!member_seconds(claims, "nbf", &nbf) || now + jwt_leeway < nbf))
		invalid(action);
	if (jwt_audience[0] != '\0' && !audience_matches(claims))
		invalid(action);
	if (jwt_issuer[0] != '\0' &&
		((issuer = member_string(claims, "iss")) == NULL || strcmp(issuer, jwt_issuer) != 0))
		invalid(action);
	if (!parse_uuid(member_string(claims, "sub"), user_id) || !lookup_user_exists(user_id))
		invalid(action);
}

void
session_verify(const char *token, size_t len, const char *action, pg_uuid_t *user_id)
{
	JwtParts parts;
	unsigned char *header_text, *payload_text, *signature;
	size_t header_len, payload_len, signature_len;
	Jsonb *header, *claims;
	char *alg;
	bool verified;

	if (!billium_jwt_split(token, len, &parts) ||
		(header_text = decode_segment(&parts.header, &header_len)) == NULL ||
		(payload_text = decode_segment(&parts.payload, &payload_len)) == NULL ||
		(signature = decode_segment(&parts.signature, &signature_len)) == NULL ||
		(header = json_object_quietly((char *)header_text, header_len)) == NULL ||
		(alg = member_string(header, "alg")) == NULL || member(header, "crit") != NULL ||
		(member(header, "kid") != NULL && member_string(header, "kid") == NULL))
		invalid(action);

	/* Only the three algorithms; "none" and everything else are refused before any claim is read.
	 */
	if (strcmp(alg, "HS256") == 0)
		verified = hs256_verifies(&parts, signature, signature_len);
	else if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0)
		verified = public_key_verifies(&parts, alg, member_string(header, "kid"), signature,
									   signature_len);
	else
		verified = false;
	if (!verified || (claims = json_object_quietly((char *)payload_text, payload_len)) == NULL)
		invalid(action);
	check_claims(claims, action, user_id);
}

bool
session_trusted_claims_user(pg_uuid_t *user_id)
{
	const char *text;
	Jsonb *claims;

	if (!trust_request_claims)
		return false;
	text = GetConfigOption("request.jwt.claims", true, false);
	if (text == NULL || text[0] == '\0' ||
		(claims = json_object_quietly(text, strlen(text))) == NULL)
		return false;
	/* Claims without a subject are an anonymous request (PostgREST's anon role): no session. */
	if (member(claims, "sub") == NULL)
		return false;
	if (!parse_uuid(member_string(claims, "sub"), user_id) || !lookup_user_exists(user_id))
		billium_raise(BE_SESSION_INVALID, NULL, NULL);
	return true;
}
