#!/bin/sh
# auth.sh: access control. Users from an htpasswd file (alice, bob), three
# registries with read and write lists, and depot's token service:
# challenges on /v2/ and repository paths, the key and certificate depotd
# creates, GET and POST /token (claims, the intersection of asked and
# allowed, refresh tokens), skopeo and podman with credentials and
# `login`, anonymous pulls, 401/403/404 answers that reveal nothing,
# forged, expired, tampered and unsigned tokens, the catalog filtered per
# caller, cross-repository mounts, Debian's docker-registry trusting
# depot's tokens, depot as an upstream of another depotd with a user and
# password, and logs holding audit and failed-login lines but never a
# password or a token.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"
JWT="$DEPOT_SRCDIR/tests/tools/jwt_forge.py"

for cmd in curl jq skopeo openssl; do
	command -v "$cmd" >/dev/null ||
		skip_all "$cmd is not installed (scripts/deps test installs it)"
done
command -v htpasswd >/dev/null ||
	skip_all "htpasswd is not installed (apache2-utils; scripts/deps test installs it)"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

# Keep skopeo's temp files and configuration inside the test directory;
# auth.json stays empty (no stored credentials), login.json is what
# `skopeo login` writes.
mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"
echo '{"auths":{}}' >"$T_DIR/login.json"
: >"$T_DIR/issued"

ALICE=alice:alice-pw
BOB=bob:bob-pw
BADPW=wrong-pw-4711
ACCEPT_M='application/vnd.oci.image.manifest.v1+json'
ACCEPT_I='application/vnd.oci.image.index.v1+json'
ACCEPT_DM='application/vnd.docker.distribution.manifest.v2+json'
ACCEPT_DL='application/vnd.docker.distribution.manifest.list.v2+json'

# --- users
{
	htpasswd -Bbn alice alice-pw && htpasswd -Bbn bob bob-pw
} 2>"$T_DIR/htpasswd.err" | grep -v '^$' >"$T_DIR/htpasswd"
[ "$(wc -l <"$T_DIR/htpasswd")" -eq 2 ] || bail "htpasswd -B failed: $(cat "$T_DIR/htpasswd.err")"
chmod 600 "$T_DIR/htpasswd"

# --- depotd A: private (alice only), public (anyone reads, alice
# writes), team (any signed-in user reads and writes).
port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
key="$T_DIR/token.key"
crt="$T_DIR/token.crt"
cat >"$T_DIR/depot.conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$T_DIR/data-$port";
  request_timeout = 30;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
auth = {
  users_file = "$T_DIR/htpasswd";
  token_key_file = "$key";
  token_cert_file = "$crt";
  token_ttl = 300;
  token_issuer = "depot";
};
upstreams = (
  { key = "privup"; type = "docker"; source = "custom"; url = "http://127.0.0.1:9";
    auth = { type = "userpass"; username = "ci"; password = "privup-secret"; }; timeout = 2; }
);
registries = (
  { name = "private"; type = "docker"; read = [ "alice" ]; write = [ "alice" ]; },
  { name = "public"; type = "docker"; read = [ "anonymous" ]; write = [ "alice" ]; },
  { name = "team"; type = "docker"; read = [ "*" ]; write = [ "*" ]; },
  { name = "dflt"; type = "docker"; },
  { name = "leaky"; type = "docker"; read = [ "anonymous" ]; upstreams = [ "privup" ]; }
);
EOC
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start: $(tail -n 3 "$T_DIR/depotd-$port.log")"
alog="$T_DIR/depotd-$port.log"

# sk ARGS: skopeo with a time limit, no signature policy, its temp files
# and registries.conf in the test directory and no stored credentials.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

# skl ARGS: the same with the credentials `skopeo login` stored.
skl() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/login.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

# fails DESC COMMAND...: pass when the command fails.
fails() {
	local desc=$1
	shift
	if "$@" >"$T_DIR/check.out" 2>&1; then
		not_ok "$desc"
		echo "#   the command succeeded"
	else
		ok "$desc"
	fi
}

# hex DIGEST: the digest without its algorithm.
hex() {
	echo "${1#sha256:}"
}

# lblob LAYOUT DIGEST: the file of a blob in an OCI layout.
lblob() {
	echo "$1/blobs/sha256/$(hex "$2")"
}

# same_tree A B DESC: pass when two directories hold identical files.
same_tree() {
	if diff -r "$1" "$2" >"$T_DIR/diff.out" 2>&1; then
		ok "$3"
	else
		not_ok "$3"
		sed 's/^/#   /' "$T_DIR/diff.out" | head -n 20
	fi
}

# req METHOD URL [CURL_ARGS]: "STATUS CODE": the HTTP status and the first
# OCI error code of the answer (- when none). The body is in $T_DIR/body,
# the headers in $T_DIR/headers.
req() {
	local method=$1 url=$2 st code
	shift 2
	st=$(curl -s -X "$method" -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' \
	    -H "Accept: $ACCEPT_M" -H "Accept: $ACCEPT_I" -H "Accept: $ACCEPT_DM" \
	    -H "Accept: $ACCEPT_DL" "$@" "$url")
	code=$(jq -r '.errors[0].code // "-"' "$T_DIR/body" 2>/dev/null) || code=-
	echo "$st ${code:--}"
}

# challenge: the WWW-Authenticate header of the last req.
challenge() {
	tr -d '\r' <"$T_DIR/headers" |
	    awk 'tolower($0) ~ /^www-authenticate:/ { sub(/^[^:]*:[ \t]*/, ""); print }'
}

# has_params DESC TEXT WANT...: pass when TEXT contains every WANT string.
has_params() {
	local desc=$1 text=$2 w
	shift 2
	for w in "$@"; do
		case $text in
		*"$w"*) ;;
		*)
			not_ok "$desc"
			echo "#   got:  '$text'"
			echo "#   lacks: '$w'"
			return
			;;
		esac
	done
	ok "$desc"
}

# The realm and service every Bearer challenge of depot names.
realm="realm=\"$base/token\""
service='service="depot"'

# token CREDS SCOPE...: GET /token for the scopes, anonymously when CREDS
# is -, else with Basic USER:PASSWORD. Prints the token (nothing when
# there is none); the answer is in $T_DIR/token.json, its status in
# $T_DIR/token.status. Every token issued is kept in $T_DIR/issued.
token() {
	local creds=$1 q="service=depot" s t
	shift
	for s in "$@"; do
		q="$q&scope=$s"
	done
	if [ "$creds" = - ]; then
		set --
	else
		set -- -u "$creds"
	fi
	curl -s -o "$T_DIR/token.json" -D "$T_DIR/headers" -w '%{http_code}' \
	    "$@" "$base/token?$q" >"$T_DIR/token.status"
	t=$(jq -r '.token // empty' "$T_DIR/token.json" 2>/dev/null)
	[ -n "$t" ] && echo "$t" >>"$T_DIR/issued"
	echo "$t"
}

# claims TOKEN: the token's claims, compact JSON.
claims() {
	python3 "$JWT" decode "$1" 2>/dev/null | jq -c .claims 2>/dev/null
}

# actions TOKEN NAME: the actions the token grants on repository NAME,
# sorted, comma separated.
actions() {
	claims "$1" | jq -r --arg n "$2" '[.access[]? |
	    select(.type == "repository" and .name == $n) | .actions[]] |
	    unique | join(",")' 2>&1
}

# mdigest REPO REF [CURL_ARGS]: digest of the manifest bytes depot serves.
mdigest() {
	local repo=$1 ref=$2
	shift 2
	echo "sha256:$(curl -sf -H "Accept: $ACCEPT_M" -H "Accept: $ACCEPT_DM" \
	    "$@" "$base/v2/$repo/manifests/$ref" | sha256sum | cut -d' ' -f1)"
}

# push_curl CREDS REPO TAG LAYOUT DIGEST: push an image of an OCI layout
# with curl and Basic credentials only (no token): each blob with a
# monolithic POST, then the manifest. Prints the manifest PUT's status.
push_curl() {
	local creds=$1 repo=$2 tag=$3 lay=$4 m d
	m=$(lblob "$lay" "$5")
	for d in $(jq -r '.config.digest, .layers[].digest' "$m"); do
		curl -s -o /dev/null -u "$creds" -X POST \
		    -H 'Content-Type: application/octet-stream' \
		    --data-binary "@$(lblob "$lay" "$d")" \
		    "$base/v2/$repo/blobs/uploads/?digest=$d"
	done
	curl -s -o /dev/null -w '%{http_code}' -u "$creds" -X PUT \
	    -H "Content-Type: $ACCEPT_M" --data-binary "@$m" \
	    "$base/v2/$repo/manifests/$tag"
}

# --- test images
img_app=$T_DIR/img-app
img_team=$T_DIR/img-team
img_aud=$T_DIR/img-aud
d_app=$(python3 "$MKIMAGE" "$img_app" --tag 1 --seed auth-app --layers 2 --layer-size 65536) ||
	bail "mkimage.py failed"
d_team=$(python3 "$MKIMAGE" "$img_team" --tag 1 --seed auth-team --layers 1 --layer-size 65536) ||
	bail "mkimage.py failed"
d_aud=$(python3 "$MKIMAGE" "$img_aud" --tag 1 --seed auth-audit --layers 1 --layer-size 4096) ||
	bail "mkimage.py failed"
app_layer=$(jq -r '.layers[0].digest' "$(lblob "$img_app" "$d_app")")

# --- 1: /v2/ challenges the anonymous and lets a user in
is "$(req GET "$base/v2/" | cut -d' ' -f1)" 401 "1: GET /v2/ anonymously: 401"
is "$(challenge)" "Bearer $realm,$service" \
    "1: the challenge is Bearer with depot's /token realm and service depot"
is "$(req GET "$base/v2/" -u "$ALICE" | cut -d' ' -f1)" 200 "1: GET /v2/ with alice's Basic credentials: 200"

# --- 2: the token key and certificate depotd created
is "$(stat -c %a "$key" 2>&1)" 600 "2: depotd created the token key with mode 0600"
check "2: the token key is an EC P-256 key" \
    sh -c "openssl pkey -in '$key' -noout -text | grep -Eq 'prime256v1|P-256'"
check "2: the token certificate parses" openssl x509 -in "$crt" -noout
is "$(openssl x509 -in "$crt" -noout -pubkey 2>&1)" "$(openssl pkey -in "$key" -pubout 2>&1)" \
    "2: the certificate is for the token key"

# --- 3: anonymous tokens
t=$(token - repository:public/x:pull)
is "$(cat "$T_DIR/token.status")" 200 "3: /token anonymously for public/x:pull: 200"
check "3: the answer has token, access_token, expires_in and issued_at" \
    jq -e '(.token | type == "string") and (.access_token | type == "string") and
	(.expires_in | type == "number") and (.issued_at | type == "string")' "$T_DIR/token.json"
is "$(jq -r '.token != null and .access_token == .token' "$T_DIR/token.json" 2>&1)" true \
    "3: access_token is the token"
is "$(jq -r .expires_in "$T_DIR/token.json" 2>&1)" 300 "3: expires_in is token_ttl"
like "$(jq -r .issued_at "$T_DIR/token.json" 2>&1)" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$' \
    "3: issued_at is an RFC 3339 time"
c=$(claims "$t")
is "$(printf '%s' "$c" | jq -r '"\(.iss) \(.aud) sub=\(.sub)"' 2>&1)" "depot depot sub=" \
    "3: claims: iss depot, aud depot, no subject"
is "$(printf '%s' "$c" | jq -cS .access 2>&1)" \
    '[{"actions":["pull"],"name":"public/x","type":"repository"}]' "3: claims: access grants pull on public/x"
is "$(printf '%s' "$c" | jq -r '(.exp - .iat == 300) and (.nbf <= .iat + 1) and
    (.jti | type == "string" and length > 0)' 2>&1)" true "3: claims: exp is iat + 300, nbf, jti"
check "3: ES256, kid and x5c name token_cert_file and the signature verifies" \
    python3 "$JWT" verify "$t" "$crt"
t=$(token - repository:public/x:pull,push)
is "$(actions "$t" public/x)" pull "3: anonymous asking pull,push on public/x gets pull only"
t=$(token - repository:public/x:pull repository:team/y:pull repository:private/app:pull)
is "$(cat "$T_DIR/token.status") $(actions "$t" public/x)/$(actions "$t" team/y)/$(actions "$t" private/app)" \
    "200 pull//" "3: three scopes anonymously: only public/x is granted, no error"

# --- 4: tokens for users
t=$(token "$ALICE" repository:private/app:pull,push)
is "$(cat "$T_DIR/token.status") $(actions "$t" private/app)" "200 pull,push" \
    "4: alice asking private/app:pull,push gets both"
is "$(claims "$t" | jq -r .sub 2>&1)" alice "4: alice's token has sub alice"
t=$(token "$BOB" repository:private/app:pull)
is "$(cat "$T_DIR/token.status") [$(actions "$t" private/app)]" "200 []" \
    "4: bob asking private/app:pull gets a token granting nothing there"
t=$(token "alice:$BADPW" repository:private/app:pull)
is "$(cat "$T_DIR/token.status")" 401 "4: a wrong password: 401"
is "$t" "" "4: ... and no token"
is "$(jq -r '.errors[0].code' "$T_DIR/token.json" 2>&1)" UNAUTHORIZED "4: ... with the error UNAUTHORIZED"
like "$(challenge)" '^Basic realm="depot"' "4: ... and a Basic challenge"

# --- 5: skopeo with credentials, login, and users without rights
check "5: alice pushes to private with --dest-creds" \
    sk copy --dest-tls-verify=false --dest-creds "$ALICE" "oci:$img_app:1" "docker://$reg/private/app:1"
is "$(mdigest private/app 1 -u "$ALICE")" "$d_app" "5: depot serves the pushed manifest to alice"
check "5: skopeo login as alice" sh -c "printf '%s' alice-pw | TMPDIR='$T_DIR/tmp' \
    REGISTRY_AUTH_FILE='$T_DIR/login.json' CONTAINERS_REGISTRIES_CONF='$T_DIR/registries.conf' \
    timeout 60 skopeo login --tls-verify=false -u alice --password-stdin '$reg'"
check "5: after login, a push without --creds works" \
    skl copy --dest-tls-verify=false "oci:$img_app:1" "docker://$reg/private/app:login"
check "5: after login, a pull without --creds works" \
    skl copy --src-tls-verify=false "docker://$reg/private/app:1" "oci:$T_DIR/out-login:1"
same_tree "$img_app/blobs" "$T_DIR/out-login/blobs" "5: the pulled image is byte-identical"
fails "5: an anonymous pull from private fails" \
    sk copy --src-tls-verify=false "docker://$reg/private/app:1" "oci:$T_DIR/out-anon:1"
fails "5: bob's pull from private fails" \
    sk copy --src-tls-verify=false --src-creds "$BOB" "docker://$reg/private/app:1" "oci:$T_DIR/out-bob:1"
fails "5: bob's push to private fails" \
    sk copy --dest-tls-verify=false --dest-creds "$BOB" "oci:$img_team:1" "docker://$reg/private/bob:1"
check "5: alice pushes to public" \
    sk copy --dest-tls-verify=false --dest-creds "$ALICE" "oci:$img_app:1" "docker://$reg/public/app:1"
# Deletes that must be refused aim at a copy, so that a wrong answer does
# not take the image the later checks pull.
check "5: alice pushes a copy to public/victim" \
    sk copy --dest-tls-verify=false --dest-creds "$ALICE" "oci:$img_app:1" "docker://$reg/public/victim:1"
is "$(req POST "$base/v2/public/app/blobs/uploads/" -u "$BOB")" "403 DENIED" \
    "5: bob (Basic) starting an upload into public (readable, not writable): 403 DENIED"
is "$(req DELETE "$base/v2/public/victim/manifests/$d_app" -u "$BOB")" "403 DENIED" \
    "5: bob (Basic) deleting in public: 403 DENIED"
is "$(req POST "$base/v2/private/app/blobs/uploads/" -u "$BOB")" "404 NAME_UNKNOWN" \
    "5: bob (Basic) starting an upload into private (not readable): 404 NAME_UNKNOWN"
is "$(req GET "$base/v2/private/app/manifests/1" -u "$BOB")" "404 NAME_UNKNOWN" \
    "5: bob (Basic) reading private: 404 NAME_UNKNOWN"
check "5: bob pushes to team (write \"*\")" \
    sk copy --dest-tls-verify=false --dest-creds "$BOB" "oci:$img_team:1" "docker://$reg/team/bob:1"
is "$(mdigest team/bob 1 -u "$ALICE")" "$d_team" "5: alice reads bob's image in team"
fails "5: an anonymous pull from team (read \"*\") fails" \
    sk copy --src-tls-verify=false "docker://$reg/team/bob:1" "oci:$T_DIR/out-team-anon:1"

# cross-repository mounts need read on the source
is "$(req POST "$base/v2/team/mnt/blobs/uploads/?mount=$app_layer&from=private/app" -u "$BOB" |
    cut -d' ' -f1)" 202 "5: bob mounting from private (may not read it): a plain upload session (202)"
is "$(req POST "$base/v2/team/mnt/blobs/uploads/?mount=$app_layer&from=private/app" -u "$ALICE" |
    cut -d' ' -f1)" 201 "5: alice mounting from private: 201 (mounted)"

# --- 6: anonymous pulls from public, anonymous pushes refused
check "6: skopeo pulls from public anonymously (token flow)" \
    sk copy --src-tls-verify=false "docker://$reg/public/app:1" "oci:$T_DIR/out-public:1"
same_tree "$img_app/blobs" "$T_DIR/out-public/blobs" "6: the anonymously pulled image is byte-identical"
t=$(token - repository:public/app:pull)
is "$(mdigest public/app 1 -H "Authorization: Bearer $t")" "$d_app" \
    "6: curl GETs the public manifest with an anonymous token"
is "$(mdigest public/app 1)" "$d_app" "6: ... and without any credentials"
is "$(req POST "$base/v2/public/app/blobs/uploads/" | cut -d' ' -f1)" 401 \
    "6: an anonymous upload into public: 401"
has_params "6: ... challenging for repository:public/app:pull,push" "$(challenge)" \
    "Bearer " "$realm" "$service" 'scope="repository:public/app:pull,push"'
is "$(req DELETE "$base/v2/public/victim/manifests/$d_app" | cut -d' ' -f1)" 401 \
    "6: an anonymous delete in public: 401"
has_params "6: ... challenging for repository:public/victim:delete" "$(challenge)" \
    "$realm" "$service" 'scope="repository:public/victim:delete"'
is "$(req GET "$base/v2/private/app/manifests/1" | cut -d' ' -f1)" 401 \
    "6: an anonymous GET in private: 401"
has_params "6: ... challenging for repository:private/app:pull" "$(challenge)" \
    "$realm" "$service" 'scope="repository:private/app:pull"'

# --- 7: tokens: scope, expiry, signature
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/other.key" 2>/dev/null &&
    openssl req -new -x509 -key "$T_DIR/other.key" -out "$T_DIR/other.crt" -days 2 \
    -subj "/CN=not depot" 2>/dev/null || bail "openssl could not make a second EC key"
# get_with TOKEN REPO: "STATUS CODE" of GET /v2/REPO/manifests/1 with TOKEN.
get_with() {
	req GET "$base/v2/$2/manifests/1" -H "Authorization: Bearer $1"
}
# forge ARGS: a token made by jwt_forge.py sign (nothing when it fails).
forge() {
	python3 "$JWT" sign "$@" 2>>"$T_DIR/forge.err"
}
# refused DESC TOKEN REPO: pass when TOKEN is a JWT (three parts; so a
# failure to make it fails the check) and GET /v2/REPO/manifests/1 with
# it answers 401.
refused() {
	case $2 in
	?*.?*.*) ;;
	*)
		not_ok "$1"
		echo "#   the token could not be made: $(tail -n 1 "$T_DIR/forge.err" 2>/dev/null)"
		return
		;;
	esac
	is "$(get_with "$2" "$3" | cut -d' ' -f1)" 401 "$1"
}
ta=$(token "$ALICE" repository:private/app:pull)
is "$(get_with "$ta" private/app)" "200 -" "7: alice's token for private/app:pull reads private/app"
is "$(req GET "$base/v2/" -H "Authorization: Bearer $ta" | cut -d' ' -f1)" 200 "7: ... and opens /v2/"
is "$(get_with "$ta" private/other | cut -d' ' -f1)" 401 "7: used on private/other: 401"
has_params "7: ... insufficient_scope for repository:private/other:pull" "$(challenge)" \
    'error="insufficient_scope"' 'scope="repository:private/other:pull"'
is "$(req POST "$base/v2/private/app/blobs/uploads/" -H "Authorization: Bearer $ta" | cut -d' ' -f1)" 401 \
    "7: a pull token used for an upload: 401"
has_params "7: ... insufficient_scope for repository:private/app:pull,push" "$(challenge)" \
    'error="insufficient_scope"' 'scope="repository:private/app:pull,push"'
t=$(forge --key "$key" --cert "$crt" --sub alice --access repository:private/app:pull)
is "$(get_with "$t" private/app)" "200 -" "7: a token made here with depot's key is accepted (the forgeries below are sound)"
t=$(forge --key "$key" --cert "$crt" --sub alice --exp -120 --access repository:private/app:pull)
refused "7: an expired token: 401" "$t" private/app
has_params "7: ... invalid_token" "$(challenge)" 'error="invalid_token"' "$realm"
t=$(forge --key "$T_DIR/other.key" --cert "$crt" --sub alice --access repository:private/app:pull)
refused "7: signed by another EC key, naming depot's certificate: 401" "$t" private/app
has_params "7: ... invalid_token" "$(challenge)" 'error="invalid_token"'
t=$(forge --key "$T_DIR/other.key" --cert "$T_DIR/other.crt" --sub alice --access repository:private/app:pull)
refused "7: signed by another EC key with its own certificate: 401" "$t" private/app
t=$(forge --key "$key" --alg none --sub alice --access repository:private/app:pull)
refused "7: alg none (unsigned): 401" "$t" private/app
t=$(python3 "$JWT" tamper "$ta" --access repository:private/other:pull,push 2>>"$T_DIR/forge.err")
refused "7: access claim changed, signature kept: 401" "$t" private/other
has_params "7: ... invalid_token" "$(challenge)" 'error="invalid_token"'
t=$(forge --key "$key" --cert "$crt" --sub alice --aud elsewhere --access repository:private/app:pull)
refused "7: another audience: 401" "$t" private/app
t=$(forge --key "$key" --cert "$crt" --sub alice --iss elsewhere --access repository:private/app:pull)
refused "7: another issuer: 401" "$t" private/app
is "$(get_with not.a-jwt.at-all private/app | cut -d' ' -f1)" 401 "7: a malformed Bearer token: 401"

# --- 8: POST /token (OAuth2 password and refresh grants)
post_token() {
	curl -s -o "$T_DIR/token.json" -w '%{http_code}' -X POST \
	    --data-urlencode service=depot --data-urlencode client_id=depot-test "$@" "$base/token"
}
st=$(post_token -d grant_type=password -d username=alice -d password=alice-pw \
    --data-urlencode scope=repository:private/app:pull -d access_type=offline)
is "$st" 200 "8: POST /token grant_type=password: 200"
tp=$(jq -r '.access_token // empty' "$T_DIR/token.json" 2>/dev/null)
rt=$(jq -r '.refresh_token // empty' "$T_DIR/token.json" 2>/dev/null)
echo "$tp" >>"$T_DIR/issued"
echo "$rt" >>"$T_DIR/issued"
is "$(actions "$tp" private/app) $(claims "$tp" | jq -r .sub 2>&1)" "pull alice" \
    "8: ... an access_token for alice granting pull on private/app"
like "$rt" '.' "8: ... and a refresh_token (access_type=offline)"
st=$(post_token -d grant_type=password -d username=alice -d password=alice-pw \
    --data-urlencode scope=repository:private/app:pull)
is "$st $(jq -r 'has("access_token"), has("refresh_token")' "$T_DIR/token.json" 2>&1 | tr '\n' ' ')" \
    "200 true false " "8: without access_type=offline: no refresh_token"
jq -r '.access_token // empty' "$T_DIR/token.json" >>"$T_DIR/issued" 2>/dev/null
st=$(post_token -d grant_type=refresh_token --data-urlencode "refresh_token=$rt" \
    --data-urlencode scope=repository:private/app:pull,push)
is "$st" 200 "8: grant_type=refresh_token: 200"
tr2=$(jq -r '.access_token // empty' "$T_DIR/token.json" 2>/dev/null)
echo "$tr2" >>"$T_DIR/issued"
jq -r '.refresh_token // empty' "$T_DIR/token.json" >>"$T_DIR/issued" 2>/dev/null
is "$(actions "$tr2" private/app) $(claims "$tr2" | jq -r .sub 2>&1)" "pull,push alice" \
    "8: ... a new token for alice (pull,push on private/app)"
is "$(get_with "$tr2" private/app)" "200 -" "8: ... that reads private/app"
st=$(post_token -d grant_type=refresh_token -d refresh_token=garbage.refresh.token \
    --data-urlencode scope=repository:private/app:pull)
like "$st" '^40[01]$' "8: a garbage refresh token: 400 or 401"
is "$(jq -r '.access_token // "none"' "$T_DIR/token.json" 2>/dev/null)" none "8: ... and no token"
st=$(post_token -d grant_type=password -d username=bob -d "password=$BADPW" \
    --data-urlencode scope=repository:public/app:pull)
is "$st" 401 "8: grant_type=password with a wrong password: 401"

# --- 9: the catalog lists what the caller may read
catalog() {
	curl -s "$@" "$base/v2/_catalog" | jq -r '.repositories[]?' 2>/dev/null | sort | tr '\n' ' '
}
out=$(catalog)
like "$out" '(^| )public/app ' "9: the anonymous catalog lists public/app"
is "$(printf '%s' "$out" | grep -Ec '(^| )(private|team)/')" 0 "9: ... and nothing of private or team"
out=$(catalog -u "$ALICE")
like "$out" '(^| )private/app .*public/app ' "9: alice's catalog lists private/app and public/app"
out=$(catalog -u "$BOB")
like "$out" '(^| )public/app .*team/bob ' "9: bob's catalog lists public/app and team/bob"
is "$(printf '%s' "$out" | grep -Ec '(^| )private/')" 0 "9: ... and nothing of private"
is "$(curl -s -o /dev/null -w '%{http_code}' -u "bob:$BADPW" "$base/v2/_catalog")" 401 \
    "9: the catalog with a wrong password: 401, not a shorter list"
is "$(req GET "$base/v2/nosuch/app/manifests/1" -u "bob:$BADPW" | cut -d' ' -f1)" 401 \
    "10: unknown registry with a wrong password: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -u "$(printf 'evil\naudit: forged'):x" "$base/v2/public/app/manifests/1" -X PUT)" 401 \
    "10: a user name with a line break is refused"

# --- 10: an unknown registry looks like one the caller may not read
is "$(req GET "$base/v2/nosuch/app/manifests/1" | cut -d' ' -f1)" 401 "10: unknown registry, anonymous: 401"
has_params "10: ... with the usual challenge" "$(challenge)" \
    "$realm" "$service" 'scope="repository:nosuch/app:pull"'
is "$(req GET "$base/v2/nosuch/app/manifests/1" -u "$ALICE")" "404 NAME_UNKNOWN" \
    "10: unknown registry, alice: 404 NAME_UNKNOWN"
is "$(grep -c 'audit: forged' "$T_DIR"/depotd-*.log | awk -F: '{ s += $NF } END { print s + 0 }')" 0 \
    "10: nothing of that user name reached the log"

# --- 10b: anonymous reading is never the default
is "$(req GET "$base/v2/privup/app/manifests/1" | cut -d' ' -f1)" 401 \
    "10b: an upstream key with credentials and no read list: anonymous 401"
like "$(req GET "$base/v2/privup/app/manifests/1" -u "$BOB" | cut -d' ' -f1)" '^5' \
    "10b: ... bob (signed in) gets through to the (unreachable) upstream"
is "$(req GET "$base/v2/dflt/app/tags/list" | cut -d' ' -f1)" 401 \
    "10b: a registry without a read list: anonymous 401"
is "$(req GET "$base/v2/dflt/app/tags/list" -u "$BOB")" "404 NAME_UNKNOWN" \
    "10b: ... bob may read it (nothing there)"
like "$(grep 'registry leaky reaches upstream privup' "$alog" | grep -i anonymous)" . \
    "10b: depotd warned that anonymous callers may read leaky, which reaches privup"
is "$(grep -c 'upstream privup holds credentials' "$alog")" 0 \
    "10b: ... and did not warn about privup itself (read by signed-in users only)"

# --- 11: Debian's docker-registry trusting depot's tokens
if command -v docker-registry >/dev/null; then
	rport=$(free_port)
	rreg="127.0.0.1:$rport"
	cat >"$T_DIR/registry.yml" <<EOC
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $T_DIR/registry
http:
  addr: $rreg
  secret: depot-test-auth
auth:
  token:
    realm: $base/token
    service: depot
    issuer: depot
    rootcertbundle: $crt
EOC
	docker-registry serve "$T_DIR/registry.yml" </dev/null >"$T_DIR/registry.log" 2>&1 &
	rpid=$!
	T_PIDS="$T_PIDS $rpid"
	i=0
	while [ "$(http_status "http://$rreg/v2/" --max-time 2)" != 401 ]; do
		if ! kill -0 "$rpid" 2>/dev/null || [ "$i" -ge 600 ]; then
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$(http_status "http://$rreg/v2/" --max-time 2)" != 401 ]; then
		not_ok "11: docker-registry with depot's certificate did not start"
		grep -m 3 -iE 'panic|fatal|error' "$T_DIR/registry.log" | sed 's/^/#   /'
	else
		ok "11: docker-registry starts trusting depot's certificate"
		has_params "11: its challenge sends clients to depot's /token" \
		    "$(curl -s -D - -o /dev/null "http://$rreg/v2/" | tr -d '\r' |
		    awk 'tolower($0) ~ /^www-authenticate:/')" "$realm"
		check "11: alice pushes to docker-registry with a token from depot" \
		    sk copy --dest-tls-verify=false --dest-creds "$ALICE" "oci:$img_app:1" \
		    "docker://$rreg/private/interop:1"
		check "11: alice pulls it back" \
		    sk copy --src-tls-verify=false --src-creds "$ALICE" "docker://$rreg/private/interop:1" \
		    "oci:$T_DIR/out-interop:1"
		same_tree "$img_app/blobs" "$T_DIR/out-interop/blobs" "11: byte-identical through docker-registry"
		fails "11: bob (no rights on private/* by depot's policy) cannot push there" \
		    sk copy --dest-tls-verify=false --dest-creds "$BOB" "oci:$img_team:1" \
		    "docker://$rreg/private/bobs:1"
		t=$(token "$ALICE" repository:private/interop:pull)
		is "$(http_status "http://$rreg/v2/private/interop/manifests/1" -H "Accept: $ACCEPT_M" \
		    -H "Authorization: Bearer $t")" 200 "11: docker-registry accepts depot's token for private/interop"
		t=$(token "$ALICE" repository:private/app:pull)
		is "$(http_status "http://$rreg/v2/private/interop/manifests/1" -H "Accept: $ACCEPT_M" \
		    -H "Authorization: Bearer $t") ${t:+token}" "401 token" \
		    "11: ... and refuses one depot issued for private/app"
	fi
	kill -TERM "$rpid" 2>/dev/null
	t_wait_gone "$rpid" 50 || kill -KILL "$rpid" 2>/dev/null
else
	skip "11: docker-registry is not installed (scripts/deps test installs it)"
fi

# --- 12: depot A as the upstream of depotd B, with alice's password
printf '%s' alice-pw >"$T_DIR/a-good.pass"
printf '%s' "$BADPW" >"$T_DIR/a-bad.pass"
chmod 600 "$T_DIR/a-good.pass" "$T_DIR/a-bad.pass"
bport=$(free_port)
breg="127.0.0.1:$bport"
cat >"$T_DIR/depot-b.conf" <<EOC
server = {
  listen = [ "$breg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$bport.pid";
  data_dir = "$T_DIR/data-$bport";
  request_timeout = 30;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$bport.log"; };
};
upstreams = (
  { key = "from-a"; type = "docker"; source = "custom"; url = "$base";
    auth = { type = "userpass"; username = "alice"; password_file = "$T_DIR/a-good.pass"; };
    timeout = 10; },
  { key = "from-a-bad"; type = "docker"; source = "custom"; url = "$base";
    auth = { type = "userpass"; username = "alice"; password_file = "$T_DIR/a-bad.pass"; };
    timeout = 10; }
);
registries = (
  { name = "via"; type = "docker"; upstreams = [ "from-a" ]; },
  { name = "viabad"; type = "docker"; upstreams = [ "from-a-bad" ]; }
);
EOC
if start_depotd "$T_DIR/depot-b.conf" "$bport"; then
	bpid=$DEPOTD_PID
	check "12: skopeo pulls A's private image through B" \
	    sk copy --src-tls-verify=false "docker://$breg/via/private/app:1" "oci:$T_DIR/out-via:1"
	same_tree "$img_app/blobs" "$T_DIR/out-via/blobs" "12: byte-identical through B"
	is "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT_M" \
	    "http://$breg/v2/viabad/private/app/manifests/1")" 503 \
	    "12: through B with a wrong password for A: 503"
	stop_depotd "$bpid"
	is "$?" 0 "12: depotd B stops cleanly"
else
	not_ok "12: depotd B did not start"
	tail -n 5 "$T_DIR/depotd-$bport.log" | sed 's/^/#   /'
fi

# --- 13: audit and failed-login lines; no secret in any log or /metrics
st=$(push_curl "$ALICE" team/audited v1 "$img_aud" "$d_aud")
is "$st" 201 "13: alice pushes team/audited:v1 with Basic credentials (curl)"
is "$(req DELETE "$base/v2/team/audited/manifests/$d_aud" -u "$ALICE" | cut -d' ' -f1)" 202 \
    "13: alice deletes it"
curl -s "$base/metrics" >"$T_DIR/metrics.txt"
# Lines may still be on their way to the log file; wait for the delete's.
i=0
while ! grep -i audit "$alog" | grep -i delet | grep -q team/audited; do
	[ "$i" -ge 600 ] && break
	sleep 0.1
	i=$((i + 1))
done
like "$(grep -i audit "$alog" | grep alice | grep team/audited | grep -v -i delet)" . \
    "13: an audit line names alice's push of team/audited"
like "$(grep -i audit "$alog" | grep alice | grep team/audited | grep -i delet)" . \
    "13: an audit line names alice's delete in team/audited"
like "$(grep -i audit "$alog" | grep alice | grep -iE 'token|issu')" . \
    "13: an audit line names a token issued to alice"
like "$(grep -v -i audit "$alog" | grep 127.0.0.1 | grep alice |
    grep -iE 'fail|invalid|wrong|bad|denied|refus|unauthori')" . \
    "13: a failed-login line names alice and the client address"
# Tokens are looked for whole and by their signatures alone.
grep -v '^$' "$T_DIR/issued" | sort -u >"$T_DIR/secrets"
awk -F. 'NF == 3 && length($3) > 20 { print $3 }' "$T_DIR/issued" >>"$T_DIR/secrets"
is "$([ "$(wc -l <"$T_DIR/secrets")" -ge 10 ] && echo yes)" yes \
    "13: the tokens issued above are known (to look for them)"
for f in "$alog" "$T_DIR/access-$port.log" "$T_DIR/depotd-$bport.log" \
    "$T_DIR/access-$bport.log" "$T_DIR/metrics.txt"; do
	n=$(grep -F -c -e alice-pw -e bob-pw -e "$BADPW" "$f" 2>/dev/null)
	is "${n:-0}" 0 "13: no password in ${f##*/}"
	n=$(grep -F -c -f "$T_DIR/secrets" "$f" 2>/dev/null)
	is "${n:-0}" 0 "13: no token in ${f##*/}"
done

# --- 14: podman login, push and pull
# Section 13's failed login put alice in a short back-off: wait until a
# token for alice is given again (a refusal in back-off does not count).
alice_token() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$ALICE" \
	    "$base/token?service=depot&scope=repository:private/podman:pull")" = 200 ]
}
t_wait_for alice_token || echo "# alice still refused a token"
podman_reason=""
if ! command -v podman >/dev/null; then
	podman_reason="podman is not installed (scripts/deps test installs it)"
elif [ "$(id -u)" != 0 ]; then
	podman_reason="podman runs as root here (rootless needs subuid setup)"
fi
: >"$T_DIR/containers.conf"
echo '{"auths":{}}' >"$T_DIR/pm-auth.json"
cat >"$T_DIR/storage.conf" <<EOC
[storage]
driver = "vfs"
graphroot = "$T_DIR/root"
runroot = "$T_DIR/runroot"
EOC
# pm ARGS: podman with its store, state, temp files, configuration and
# credentials under the test directory.
pm() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    CONTAINERS_CONF=$T_DIR/containers.conf \
	    CONTAINERS_STORAGE_CONF=$T_DIR/storage.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/pm-auth.json \
	    timeout 60 podman --storage-driver=vfs --root "$T_DIR/root" \
	    --runroot "$T_DIR/runroot" --tmpdir "$T_DIR/libpod" \
	    --cgroup-manager=cgroupfs --events-backend=none "$@"
}
if [ -z "$podman_reason" ]; then
	out=$(pm images 2>&1) ||
		podman_reason="podman cannot run here: $(printf '%s\n' "$out" | tail -n 1)"
fi
if [ -n "$podman_reason" ]; then
	skip "14: $podman_reason"
else
	check "14: podman login as alice" \
	    sh -c "printf '%s' alice-pw | TMPDIR='$T_DIR/tmp' REGISTRY_AUTH_FILE='$T_DIR/pm-auth.json' \
	    CONTAINERS_REGISTRIES_CONF='$T_DIR/registries.conf' CONTAINERS_CONF='$T_DIR/containers.conf' \
	    timeout 60 podman login --tls-verify=false -u alice --password-stdin '$reg'"
	check "14: podman pulls public/app:1" pm pull -q --tls-verify=false "$reg/public/app:1"
	check "14: podman tags it into private" pm tag "$reg/public/app:1" "$reg/private/podman:1"
	check "14: podman pushes to private (logged in)" pm push --tls-verify=false \
	    --digestfile "$T_DIR/pm.digest" "$reg/private/podman:1"
	is "$(mdigest private/podman 1 -u "$ALICE")" "$(cat "$T_DIR/pm.digest" 2>/dev/null)" \
	    "14: depot serves the manifest podman pushed"
	check "14: podman removes its local images" pm rmi -a -f
	check "14: podman pulls private/podman:1 (logged in)" \
	    pm pull -q --tls-verify=false "$reg/private/podman:1"
	check "14: podman logout" pm logout "$reg"
	pm rmi -a -f >/dev/null 2>&1
	fails "14: after logout, pulling from private fails" \
	    pm pull -q --tls-verify=false "$reg/private/podman:1"
	# Last: the failure puts alice (and this address) in a short
	# back-off, which a login of another worker in it would meet.
	fails "14: podman login with a wrong password fails" \
	    sh -c "printf '%s' '$BADPW' | TMPDIR='$T_DIR/tmp' REGISTRY_AUTH_FILE='$T_DIR/pm-auth.json' \
	    CONTAINERS_REGISTRIES_CONF='$T_DIR/registries.conf' CONTAINERS_CONF='$T_DIR/containers.conf' \
	    timeout 60 podman login --tls-verify=false -u alice --password-stdin '$reg'"
fi

# --- 15: depotd C: /metrics for alice only; two workers.
cp "$T_DIR/htpasswd" "$T_DIR/htpasswd-c"
chmod 600 "$T_DIR/htpasswd-c"
cport=$(free_port)
creg="127.0.0.1:$cport"
cbase="http://$creg"
cat >"$T_DIR/depot-c.conf" <<EOC
server = {
  listen = [ "$creg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$cport.pid";
  data_dir = "$T_DIR/data-$cport";
  request_timeout = 30;
  metrics_read = [ "alice" ];
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$cport.log"; };
};
auth = {
  users_file = "$T_DIR/htpasswd-c";
  token_key_file = "$key";
};
registries = (
  { name = "pub"; type = "docker"; read = [ "anonymous" ]; }
);
EOC
clog="$T_DIR/depotd-$cport.log"

# pause_worker PID / resume_worker PID: SIGSTOP (waiting until it took
# effect) and SIGCONT. A stopped worker accepts nothing: the other one
# serves every new connection.
pause_worker() {
	local i=0
	kill -STOP "$1"
	while [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != T ]; do
		[ "$i" -ge 50 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}
resume_worker() {
	kill -CONT "$1"
}
# cget URL [CURL_ARGS]: "STATUS MESSAGE" of a GET on depotd C, on a
# connection of its own; the body is in $CBODY ($T_DIR/cbody).
cget() {
	local url=$1 st msg body=${CBODY:-$T_DIR/cbody}
	shift
	st=$(curl -s --max-time 60 -o "$body" -w '%{http_code}' "$@" "$url")
	msg=$(jq -r '.errors[0].message // "-"' "$body" 2>/dev/null) || msg=-
	echo "$st ${msg:--}"
}
# cmp_lt A B DESC: pass when the number A is less than B.
cmp_lt() {
	if [ "$1" -lt "$2" ]; then
		ok "$3"
	else
		not_ok "$3"
		echo "#   $1 is not less than $2"
	fi
}

if start_depotd "$T_DIR/depot-c.conf" "$cport"; then
	cpid=$DEPOTD_PID
	# -- metrics_read = [ "alice" ]: the list decides, loopback or not
	is "$(cget "$cbase/metrics" -D "$T_DIR/cheaders")" "401 authentication required" \
	    "15: /metrics with metrics_read = [ alice ], anonymous from loopback: 401"
	like "$(tr -d '\r' <"$T_DIR/cheaders" | grep -i '^www-authenticate:')" 'Basic realm=' \
	    "15: ... with a Basic challenge"
	is "$(cget "$cbase/metrics" -u "$ALICE" | cut -d' ' -f1)" 200 "15: alice reads /metrics"
	like "$(cat "$T_DIR/cbody")" '^depot_' "15: ... and gets the series"
	is "$(cget "$cbase/metrics" -u "$BOB" | cut -d' ' -f1)" 403 "15: bob may not: 403"
	is "$(cget "$cbase/metrics" -u "alice:$BADPW" | cut -d' ' -f1)" 401 \
	    "15: alice with a wrong password: 401"
	t=$(curl -s -u "$ALICE" "$cbase/token?service=depot" | jq -r '.token // empty')
	is "$(cget "$cbase/metrics" -H "Authorization: Bearer $t" | cut -d' ' -f1)" 200 \
	    "15: alice reads /metrics with a token of depot's"

	# -- the failed login counters are shared by the workers
	set -- $(workers_of "$cpid")
	cw1=$1
	cw2=$2
	if [ -z "$cw2" ]; then
		not_ok "15: depotd C did not start 2 workers"
	elif pause_worker "$cw2"; then
		cget "$cbase/v2/" -u "carol:x" >/dev/null
		cget "$cbase/v2/" -u "carol:y" >/dev/null
		resume_worker "$cw2"
		if pause_worker "$cw1"; then
			cget "$cbase/v2/" -u "carol:z" >/dev/null
			like "$(grep "^depotd\[$cw2\]" "$clog" | grep 'failed login for user carol')" \
			    '\(3 in a row\)' \
			    "15: the other worker counts carol's third failure as the third"
			: >"$T_DIR/burst-c"
			bpids=""
			for i in 1 2 3 4 5 6; do
				(CBODY=$T_DIR/cbody-$i; cget "$cbase/v2/" -u "carol:w$i") \
				    >>"$T_DIR/burst-c" &
				bpids="$bpids $!"
			done
			# shellcheck disable=SC2086
			wait $bpids
			like "$(cat "$T_DIR/burst-c")" '^401 too many failed logins' \
			    "15: concurrent wrong logins for carol meet the back-off (401 without a check)"
			is "$(grep -v '^401 ' "$T_DIR/burst-c")" "" "15: ... all of them 401"
			resume_worker "$cw1"
		else
			not_ok "15: cannot stop worker $cw1"
		fi
	else
		not_ok "15: cannot stop worker $cw2"
	fi
	is "$(cget "$cbase/v2/" -u "$BOB" | cut -d' ' -f1)" 200 "15: bob still signs in"
	is "$(grep -c 'killed by signal' "$clog")" 0 "depotd C: no worker was killed by a signal"
	stop_depotd "$cpid"
	is "$?" 0 "15: depotd C stops cleanly"
else
	not_ok "15: depotd C did not start"
	tail -n 5 "$clog" | sed 's/^/#   /'
fi

# --- 16: depotd D, one worker, whose users file makes every unknown user
# cost a cost-13 hash: a burst of wrong logins does not hold anonymous
# and token requests back. They are all answered while the hashes are
# still being computed (each wrong login is logged when its hash is
# done). Were the hashes computed on the event loop, each of them would
# wait behind every wrong login sent before it.
{
	htpasswd -Bbn -C 13 slow slow-pw && htpasswd -Bbn alice alice-pw
} 2>>"$T_DIR/htpasswd.err" | grep -v '^$' >"$T_DIR/htpasswd-d"
chmod 600 "$T_DIR/htpasswd-d"
dport=$(free_port)
dbase="http://127.0.0.1:$dport"
dlog="$T_DIR/depotd-$dport.log"
sed -e "s|127.0.0.1:$cport|127.0.0.1:$dport|" -e "s|-$cport|-$dport|g" \
    -e 's|workers = 2;|workers = 1;|' -e '/metrics_read/d' \
    -e "s|$T_DIR/htpasswd-c\"|$T_DIR/htpasswd-d\"|" \
    "$T_DIR/depot-c.conf" >"$T_DIR/depot-d.conf"
# burst.py HOST PORT N OUT: N wrong logins (users ghost0..), each on a
# connection of its own, all sent before any answer is read; the
# statuses go to OUT.
cat >"$T_DIR/burst.py" <<'EOP'
import base64, socket, sys
host, port, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conns = []
for i in range(n):
    s = socket.create_connection((host, port))
    cred = base64.b64encode(("ghost%d:x" % i).encode()).decode()
    s.sendall(("GET /v2/pub/app/tags/list HTTP/1.1\r\nHost: %s:%d\r\n"
               "Authorization: Basic %s\r\nConnection: close\r\n\r\n"
               % (host, port, cred)).encode())
    conns.append(s)
with open(out, "w") as f:
    for s in conns:
        s.settimeout(300)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        f.write((data.split(b" ", 2)[1].decode() if b" " in data else "none") + "\n")
EOP
if start_depotd "$T_DIR/depot-d.conf" "$dport"; then
	dpid=$DEPOTD_PID
	t=$(curl -s -u "$ALICE" "$dbase/token?service=depot" | jq -r '.token // empty')
	m=24
	python3 "$T_DIR/burst.py" 127.0.0.1 "$dport" "$m" "$T_DIR/burst.out" &
	bpid=$!
	# Wait (bounded) until the first wrong login has been checked: every
	# one of them has been sent by then.
	i=0
	while ! grep -q 'failed login for user ghost' "$dlog"; do
		[ "$i" -ge 1200 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	good=""
	for i in 1 2 3 4; do
		good="$good $(http_status "$dbase/v2/" --max-time 120)"
		good="$good $(http_status "$dbase/v2/pub/app/tags/list" --max-time 120)"
		good="$good $(http_status "$dbase/v2/" --max-time 120 -H "Authorization: Bearer $t")"
	done
	hashed=$(grep -c 'failed login for user ghost' "$dlog")
	is "$good" "$(printf ' 401 404 200%.0s' 1 2 3 4)" \
	    "16: 12 anonymous and token requests answered during the burst"
	cmp_lt "$hashed" "$m" \
	    "16: ... all of them before the $m wrong passwords were all checked"
	wait "$bpid"
	is "$(sort "$T_DIR/burst.out" | uniq -c | awk '{ print $1, $2 }')" "$m 401" \
	    "16: every wrong login was answered 401"
	is "$(grep -c 'killed by signal' "$dlog")" 0 "depotd D: no worker was killed by a signal"
	stop_depotd "$dpid"
	is "$?" 0 "16: depotd D stops cleanly"
else
	not_ok "16: depotd D did not start"
	tail -n 5 "$dlog" | sed 's/^/#   /'
fi

# --- 17: a bcrypt cost above 14 is refused, with file and line. Hashing
# at cost 15 takes seconds and depotd refuses the line by its cost field
# alone: the field of a cost-5 hash is raised to 15.
{
	htpasswd -Bbn alice alice-pw &&
	    htpasswd -Bbn -C 5 costly costly-pw | sed 's/^\(costly:\$2[aby]\$\)05\$/\115$/'
} 2>>"$T_DIR/htpasswd.err" | grep -v '^$' >"$T_DIR/htpasswd-cost"
chmod 600 "$T_DIR/htpasswd-cost"
sed "s|$T_DIR/htpasswd-c\"|$T_DIR/htpasswd-cost\"|" "$T_DIR/depot-c.conf" >"$T_DIR/depot-cost.conf"
out=$("$DEPOTD" -t -c "$T_DIR/depot-cost.conf" 2>&1)
is "$?" 1 "17: depotd -t refuses a users file with a cost-15 hash"
like "$out" "htpasswd-cost:2: user costly: bcrypt cost 15 is above 14" \
    "17: ... naming the file, the line and the limit"

# --- no worker died on the way (a crash would be hidden by the respawn)
is "$(grep -c 'killed by signal' "$alog")" 0 "depotd A: no worker was killed by a signal"
is "$(grep -c 'killed by signal' "$T_DIR/depotd-$bport.log" 2>/dev/null)" 0 \
    "depotd B: no worker was killed by a signal"
