#!/usr/bin/env bash
#
# RS256 and ES256 dashboard sessions (issue 5).  Run by `make test` with PGHOST, PGPORT and
# PGUSER naming a superuser of the throwaway cluster; prints TAP lines (`ok - ...` /
# `not ok - ...`) and exits non-zero when anything failed.
#
# Makes an RSA 2048 key, a second RSA key and a P-256 key with openssl, a JWKS of the public
# keys (n and e from the modulus, x and y from the DER public key's last 64 bytes), signs tokens
# with `openssl dgst -sha256 -sign` (ES256: the DER signature turned into raw r || s, 32 bytes
# each), and checks them with billium_authenticate_session in a scratch database.  Needs only
# bash, openssl and coreutils (basenc, od).
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

DB=billium_sessions_asym_$$
WORK=$(mktemp -d /tmp/billium_asym.XXXXXX)
USER_ID=f2000000-0000-0000-0000-000000000001

cleanup() {
    "$PG_BIN/dropdb" --if-exists "$DB" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && diag <"$WORK/err"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

b64u() { basenc --base64url -w0 | tr -d '='; }           # stdin bytes -> base64url, no padding
hex2bin() { local h; h=$(cat); printf '%b' "$(sed 's/../\\x&/g' <<<"$h")"; }
bin2hex() { od -An -v -tx1 | tr -d ' \n'; }

# --- keys and the JWKS ---------------------------------------------------------------------

cd "$WORK" || bail "temp dir"
for k in rsa1 rsa2; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $k.pem 2>err || bail "openssl genpkey RSA"
    openssl pkey -in $k.pem -pubout -out $k.pub 2>err || bail "openssl pkey -pubout"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec1.pem 2>err || bail "openssl genpkey EC"
openssl pkey -in ec1.pem -pubout -out ec1.pub 2>err || bail "openssl pkey -pubout (EC)"

rsa_jwk() { # kid pubfile
    local n
    n=$(openssl rsa -pubin -in "$2" -modulus -noout | sed 's/^Modulus=//' | hex2bin | b64u)
    printf '{"kty":"RSA","kid":"%s","use":"sig","n":"%s","e":"AQAB"}' "$1" "$n"
}
ec_jwk() { # kid pubfile
    openssl pkey -pubin -in "$2" -outform DER | tail -c 64 >ec.xy
    printf '{"kty":"EC","kid":"%s","crv":"P-256","x":"%s","y":"%s"}' "$1" \
        "$(head -c 32 ec.xy | b64u)" "$(tail -c 32 ec.xy | b64u)"
}
JWK_RSA1=$(rsa_jwk rsa1 rsa1.pub)
JWK_EC1=$(ec_jwk ec1 ec1.pub)
JWKS="{\"keys\":[$JWK_RSA1,$JWK_EC1]}"
JWKS_RSA_ONLY_NO_KID="{\"keys\":[$(rsa_jwk '' rsa1.pub | sed 's/"kid":"",//')]}"

# sign ALG KEYFILE HEADER PAYLOAD -> token.  ES256: DER -> r || s.
sign() {
    local alg=$1 key=$2 input sig
    input="$(printf '%s' "$3" | b64u).$(printf '%s' "$4" | b64u)"
    printf '%s' "$input" | openssl dgst -sha256 -sign "$key" -out sig.der || return 1
    if [[ $alg == ES256 ]]; then
        local r s
        { read -r r; read -r s; } < <(openssl asn1parse -inform DER -in sig.der | sed -n 's/.*INTEGER *:\([0-9A-F]*\).*/\1/p')
        # DER integers: a leading 00 when the high bit is set, fewer bytes when r or s is small.
        ((${#r} <= 64)) || r=${r:${#r}-64}
        ((${#s} <= 64)) || s=${s:${#s}-64}
        r=$(printf '%64s' "$r" | tr ' ' 0)
        s=$(printf '%64s' "$s" | tr ' ' 0)
        printf '%s.%s' "$input" "$(printf '%s%s' "$r" "$s" | hex2bin | b64u)"
    else
        printf '%s.%s' "$input" "$(b64u <sig.der)"
    fi
}

NOW=$(date +%s)
PAYLOAD="{\"sub\":\"$USER_ID\",\"exp\":$((NOW + 600))}"
OTHER="{\"sub\":\"f2000000-0000-0000-0000-000000000002\",\"exp\":$((NOW + 600))}"
EXPIRED="{\"sub\":\"$USER_ID\",\"exp\":$((NOW - 3600))}"

RS_OK=$(sign RS256 rsa1.pem '{"alg":"RS256","kid":"rsa1"}' "$PAYLOAD") || bail "sign RS256"
ES_OK=$(sign ES256 ec1.pem '{"alg":"ES256","kid":"ec1"}' "$PAYLOAD") || bail "sign ES256"
# the ES256 signature must be 64 raw bytes
[[ $(printf '%s' "${ES_OK##*.}" | basenc --base64url -d 2>/dev/null | wc -c) -eq 64 ]] ||
    [[ $(printf '%s==' "${ES_OK##*.}" | basenc --base64url -d 2>/dev/null | wc -c) -eq 64 ]] ||
    bail "ES256 signature is not 64 bytes"
RS_OTHERKEY=$(sign RS256 rsa2.pem '{"alg":"RS256","kid":"rsa1"}' "$PAYLOAD")
RS_UNKNOWN_KID=$(sign RS256 rsa1.pem '{"alg":"RS256","kid":"nope"}' "$PAYLOAD")
RS_EC_KID=$(sign RS256 rsa1.pem '{"alg":"RS256","kid":"ec1"}' "$PAYLOAD")
RS_NO_KID=$(sign RS256 rsa1.pem '{"alg":"RS256"}' "$PAYLOAD")
RS_EXPIRED=$(sign RS256 rsa1.pem '{"alg":"RS256","kid":"rsa1"}' "$EXPIRED")
ES_EXPIRED=$(sign ES256 ec1.pem '{"alg":"ES256","kid":"ec1"}' "$EXPIRED")
ES_OTHER=$(sign ES256 ec1.pem '{"alg":"ES256","kid":"ec1"}' "$OTHER")
# tampered: the payload of another user's token with the original signature
RS_TAMPERED="${RS_OK%%.*}.$(printf '%s' "$OTHER" | b64u).${RS_OK##*.}"
ES_TAMPERED="${ES_OK%%.*}.$(printf '%s' "$OTHER" | b64u).${ES_OK##*.}"
# an RS256-signed token relabelled ES256 (header changed, RSA signature kept)
RS_AS_ES="$(printf '%s' '{"alg":"ES256","kid":"ec1"}' | b64u).${RS_OK#*.}"
# the ES256 signature in DER (as openssl makes it) instead of raw r || s: the wrong length
sign ES256 ec1.pem '{"alg":"ES256","kid":"ec1"}' "$PAYLOAD" >/dev/null
ES_DER="${ES_OK%.*}.$(b64u <sig.der)"
# the raw signature one byte short
ES_SHORT="${ES_OK%.*}.$(printf '%s' "${ES_OK##*.}" | basenc --base64url -d 2>/dev/null | head -c 63 | b64u)"
ES_SHORT=${ES_SHORT:-x}
# ES256 signature swapped in from a valid token of another user
ES_SWAPPED="${ES_OK%.*}.${ES_OTHER##*.}"
# alg confusion: HS256 with the RSA public key's PEM as the HMAC secret
HS_CONFUSED="$(printf '%s' '{"alg":"HS256","kid":"rsa1"}' | b64u).$(printf '%s' "$PAYLOAD" | b64u)"
HS_CONFUSED="$HS_CONFUSED.$(printf '%s' "$HS_CONFUSED" | openssl dgst -sha256 -hmac "$(cat rsa1.pub)" -binary | b64u)"

# --- the scratch database ------------------------------------------------------------------

"$PG_BIN/createdb" "$DB" 2>"$WORK/err" || bail "create the scratch database"
q -d "$DB" 2>"$WORK/err" <<SQL || bail "CREATE EXTENSION billium and fixtures"
CREATE EXTENSION billium;
DO \$\$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.4.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.4.0';
	END IF;
END \$\$;
INSERT INTO billium.users (id, email) VALUES
	('$USER_ID', 'asym@sessions.test'),
	('f2000000-0000-0000-0000-000000000002', 'other@sessions.test');
INSERT INTO billium.merchants (id, name) VALUES ('f1000000-0000-0000-0000-000000000001', 'asym');
INSERT INTO billium.team_members (merchant_id, user_id, role)
	VALUES ('f1000000-0000-0000-0000-000000000001', '$USER_ID', 'ADMIN');
SQL

# verdict JWKS TOKEN -> the authenticated user id, or the envelope's code, or the raw error.
verdict() {
    local out
    if out=$(q -d "$DB" -v jwks="$1" -v tok="$2" 2>&1 <<'SQL'
SET billium.jwt_jwks = :'jwks';
SELECT (billium.billium_authenticate_session(:'tok')).user_id;
SQL
    ); then
        printf '%s' "$out"
    elif grep -q '"code":"' <<<"$out"; then
        grep -o '"code":"[A-Z_]*"' <<<"$out" | head -n1 | cut -d'"' -f4
    else
        printf 'ERROR %s' "$out"
    fi
}

check() { # name jwks token expected
    local got
    got=$(verdict "$2" "$3")
    if [[ $got == "$4" ]]; then
        ok "$1"
    else
        not_ok "$1"
        printf 'expected: %s\ngot:      %s\n' "$4" "$got" | diag
    fi
}

check "a valid RS256 token authenticates its user" "$JWKS" "$RS_OK" "$USER_ID"
check "a valid ES256 token authenticates its user" "$JWKS" "$ES_OK" "$USER_ID"
check "RS256 without a kid, the JWKS holding exactly one key: accepted" "$JWKS_RSA_ONLY_NO_KID" "$RS_NO_KID" "$USER_ID"
check "RS256 without a kid, the JWKS holding two keys: SESSION_INVALID" "$JWKS" "$RS_NO_KID" SESSION_INVALID
check "RS256 with a tampered payload: SESSION_INVALID" "$JWKS" "$RS_TAMPERED" SESSION_INVALID
check "ES256 with a tampered payload: SESSION_INVALID" "$JWKS" "$ES_TAMPERED" SESSION_INVALID
check "RS256 signed by another key under kid rsa1: SESSION_INVALID" "$JWKS" "$RS_OTHERKEY" SESSION_INVALID
check "ES256 with the signature of another valid token: SESSION_INVALID" "$JWKS" "$ES_SWAPPED" SESSION_INVALID
check "RS256 with a kid not in the JWKS: SESSION_INVALID" "$JWKS" "$RS_UNKNOWN_KID" SESSION_INVALID
check "RS256 naming the EC key's kid: SESSION_INVALID" "$JWKS" "$RS_EC_KID" SESSION_INVALID
check "an RS256-signed token relabelled ES256: SESSION_INVALID" "$JWKS" "$RS_AS_ES" SESSION_INVALID
check "ES256 with a DER signature (wrong length): SESSION_INVALID" "$JWKS" "$ES_DER" SESSION_INVALID
check "ES256 with a 63-byte signature: SESSION_INVALID" "$JWKS" "$ES_SHORT" SESSION_INVALID
check "HS256 keyed with the RSA public key (alg confusion): SESSION_INVALID" "$JWKS" "$HS_CONFUSED" SESSION_INVALID
check "a valid RS256 token with no JWKS configured: SESSION_INVALID" "" "$RS_OK" SESSION_INVALID
check "a valid ES256 token with no JWKS configured: SESSION_INVALID" "" "$ES_OK" SESSION_INVALID
check "a valid RS256 token against a JWKS that is not JSON: SESSION_INVALID" "not json" "$RS_OK" SESSION_INVALID
check "an expired RS256 token: SESSION_EXPIRED" "$JWKS" "$RS_EXPIRED" SESSION_EXPIRED
check "an expired ES256 token: SESSION_EXPIRED" "$JWKS" "$ES_EXPIRED" SESSION_EXPIRED

# The token never appears in a refusal.
out=$(q -d "$DB" -v jwks="$JWKS" -v tok="$RS_TAMPERED" 2>&1 <<'SQL'
\set VERBOSITY verbose
SET billium.jwt_jwks = :'jwks';
SELECT billium.billium_authenticate_session(:'tok');
SQL
)
sig=${RS_TAMPERED##*.}
if grep -q SESSION_INVALID <<<"$out" && ! grep -qF -- "${sig:0:40}" <<<"$out"; then
    ok "a refused RS256 token is not echoed in the error"
else
    not_ok "a refused RS256 token is not echoed in the error"
    diag <<<"$out"
fi

# An ordinary role may read the (public) JWKS but not change it.
if q -d "$DB" -c "CREATE ROLE billium_asym_app_$$; GRANT billium_api TO billium_asym_app_$$" 2>"$WORK/err"; then
    out=$(q -d "$DB" 2>&1 <<SQL
SET ROLE billium_asym_app_$$;
SET billium.jwt_jwks = '{"keys":[]}';
SQL
    )
    if grep -q 'permission denied to set parameter' <<<"$out"; then
        ok "an ordinary role cannot set billium.jwt_jwks"
    else
        not_ok "an ordinary role cannot set billium.jwt_jwks"
        diag <<<"$out"
    fi
    q -d "$DB" -c "DROP ROLE billium_asym_app_$$" >/dev/null 2>&1
else
    not_ok "create a role for the privilege check"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
