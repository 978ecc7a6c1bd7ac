#!/bin/sh
# ecr.sh: AWS ECR upstreams against stand-ins of AWS (tests/tools/aws_stub.py:
# the ECR API checking SigV4, STS, the container credentials endpoint,
# IMDSv2, "S3") in front of Debian's docker-registry, whose htpasswd
# password is the token's. skopeo and podman pull through an ECR upstream
# with static keys and with each link of the AWS default credential chain
# (the daemon's environment, web identity + STS, container credentials,
# IMDSv2, in the SDKs' order); an expired token is refreshed once for
# concurrent pulls on both workers; a registry 401 with a token that has
# not expired gives one refresh and success; a wrong secret and AWS
# throttling give clear errors and one log line with AWS's error code; a
# blob redirect to an "S3" that refuses Authorization still serves the
# blob; secrets never show in the log, error bodies, /metrics, /api or
# depotctl; the URL forms through depotd -t and depotctl upstream create.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "${DEPOT_SRCDIR:-.}/tests/regress/upstream_lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"
STUB="$DEPOT_SRCDIR/tests/tools/aws_stub.py"
SIGN="$DEPOT_SRCDIR/tests/tools/aws_sign.py"
: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"

for cmd in curl jq skopeo docker-registry htpasswd ss; do
	command -v "$cmd" >/dev/null ||
		skip_all "$cmd is not installed (scripts/deps test installs it)"
done
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

# Nothing of the caller's AWS setup may reach depotd.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
    AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME \
    AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
    AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
    AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_PROFILE \
    AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_REGION AWS_DEFAULT_REGION

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"
: >"$T_DIR/containers.conf"
cat >"$T_DIR/storage.conf" <<EOC
[storage]
driver = "vfs"
graphroot = "$T_DIR/root"
runroot = "$T_DIR/runroot"
EOC

# sk ARGS: skopeo with a time limit, no signature policy, its files here.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

# pm ARGS: podman as root with a vfs store and everything it keeps here.
pm() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    CONTAINERS_CONF=$T_DIR/containers.conf \
	    CONTAINERS_STORAGE_CONF=$T_DIR/storage.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 podman --storage-driver=vfs --root "$T_DIR/root" \
	    --runroot "$T_DIR/runroot" --tmpdir "$T_DIR/libpod" \
	    --cgroup-manager=cgroupfs --events-backend=none "$@"
}
podman_ok=no
if [ "$(id -u)" = 0 ] && command -v podman >/dev/null &&
    pm images >/dev/null 2>&1; then
	podman_ok=yes
fi

ACCEPT='-H Accept:application/vnd.oci.image.manifest.v1+json
 -H Accept:application/vnd.docker.distribution.manifest.v2+json'

# status_code URL: "STATUS CODE" of a manifest GET (CODE: the first OCI
# error code, - when none); the body is in $T_DIR/body.
status_code() {
	local st code
	# shellcheck disable=SC2086
	st=$(curl -s --max-time 60 $ACCEPT -o "$T_DIR/body" -w '%{http_code}' "$1")
	code=$(jq -r '.errors[0].code // "-"' "$T_DIR/body" 2>/dev/null) || code=-
	echo "$st ${code:--}"
}

# stub PATH: GET a control path of the stand-in, print its JSON.
stub() {
	curl -s --max-time 20 "$sbase/_control/$1"
}

# sv JQ: one value of the stand-in's state.
sv() {
	stub state | jq -r "$1" 2>/dev/null
}

# gat KEY_ID: successful GetAuthorizationToken calls signed with that key.
gat() {
	sv ".gat_by_key[\"$1\"] // 0"
}

# errors_of CODE: AWS errors of that code the stand-in answered.
errors_of() {
	sv ".errors[\"$1\"] // 0"
}

# hex DIGEST / lblob LAYOUT DIGEST: the file of a blob in an OCI layout.
hex() {
	echo "${1#sha256:}"
}
lblob() {
	echo "$1/blobs/sha256/$(hex "$2")"
}

# same_tree A B DESC: pass when two directories hold identical files.
same_tree() {
	if diff -r "$1" "$2" >"$T_DIR/diff.out" 2>&1; then
		ok "$3"
	else
		not_ok "$3"
		sed 's/^/#   /' "$T_DIR/diff.out" | head -n 10
	fi
}

# none_of FILE DESC: pass when FILE contains none of the secrets.
none_of() {
	if grep -F -f "$T_DIR/secrets.list" "$1" >"$T_DIR/leak.out" 2>&1; then
		not_ok "$2"
		echo "#   a secret shows in $(basename "$1")"
	else
		ok "$2"
	fi
}

# log_count PORT PATTERN: lines of depotd's log matching the grep -E PATTERN.
log_count() {
	grep -Ec -- "$2" "$T_DIR/depotd-$1.log"
}

# --- the test images: one per case, so that nothing is already cached
I=$T_DIR/img
cat >"$T_DIR/images" <<EOI
static --tag 1 --seed ecr-static --layers 2 --layer-size 65536
pod --tag 1 --seed ecr-podman --layers 2 --layer-size 65536
chain --tag 1 --seed ecr-chain --layers 1 --layer-size 65536
host --tag 1 --seed ecr-host --layers 1 --layer-size 32768
sess --tag 1 --seed ecr-session --layers 1 --layer-size 32768
exp --tag 1 --seed ecr-expiry --layers 1 --layer-size 32768
rev --tag 1 --seed ecr-revoke --layers 1 --layer-size 32768
thr --tag 1 --seed ecr-throttle --layers 1 --layer-size 32768
s3 --tag 1 --seed ecr-s3 --layers 3 --layer-size 98304
pub --tag 1 --seed ecr-public --layers 1 --layer-size 32768
EOI
python3 - "$MKIMAGE" "$T_DIR/images" "$I" <<'PY' || bail "mkimage.py failed"
import contextlib, io, runpy, sys
tool, specs, prefix = sys.argv[1:4]
main = runpy.run_path(tool)["main"]
with open(specs) as f:
    for line in f:
        name, *args = line.split()
        sys.argv = [tool, "%s-%s" % (prefix, name)] + args
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main()
        with open("%s-%s.digest" % (prefix, name), "w") as d:
            d.write(out.getvalue().strip() + "\n")
PY
dg() {
	cat "$I-$1.digest"
}

# --- the stand-ins and the registry. The registry's htpasswd holds ci
# (for pushing) and AWS, whose password the stand-in sets.
rport=$(free_port)
echo "$rport" >"$T_DIR/upstream-ecr.port"
htpasswd -Bbn "$UPSTREAM_USER" "$UPSTREAM_PASSWORD" >"$T_DIR/upstream-ecr.htpasswd" ||
	bail "htpasswd failed"
sport=$(free_port)
s3port=$(free_port)
sbase="http://127.0.0.1:$sport"
ACCOUNT=123456789012
S_STATIC="Static/Secret+$$/wJalrXUtnFEMI"
S_HOST="Host/Secret+$$/K7MDENG"
S_SESS="Sess/Secret+$$/bPxRfiCY"
S_SESSTOK="FwoGZXIvYXdzEDoaDSessionToken$$/abc+def=="
S_EXP="Exp/Secret+$$/EXAMPLEKEY"
S_REV="Rev/Secret+$$/EXAMPLEKEY"
S_THR="Thr/Secret+$$/EXAMPLEKEY"
S_WRONG_RIGHT="Wrong/Right+$$/EXAMPLEKEY"
S_WRONG="Wrong/Bad+$$/NOTTHEKEY"
S_ENV="Env/Secret+$$/EXAMPLEKEY"
S_PUB="Pub/Secret+$$/EXAMPLEKEY"
PUBPW="public-token-$$-password"
WEBTOKEN="eyJhbGciOiJSUzI1NiJ9.web-identity-$$.sig"
CTOKEN="container-auth-$$-token"
ROLE_ARN="arn:aws:iam::$ACCOUNT:role/depot-pull"
printf '%s\n' "$WEBTOKEN" >"$T_DIR/web-identity.token"
printf '%s' "$CTOKEN" >"$T_DIR/container.token"
printf '%s' "$S_STATIC" >"$T_DIR/static.secret"
printf '%s' "$S_EXP" >"$T_DIR/exp.secret"
chmod 600 "$T_DIR/web-identity.token" "$T_DIR/container.token" \
    "$T_DIR/static.secret" "$T_DIR/exp.secret"

python3 "$STUB" --port "$sport" --s3-port "$s3port" --log "$T_DIR/stub.log" \
    --registry "http://127.0.0.1:$rport" --htpasswd "$T_DIR/upstream-ecr.htpasswd" \
    --account "$ACCOUNT" \
    --key "AKIDSTATIC:$S_STATIC" --key "AKIDHOST:$S_HOST" \
    --key "AKIDSESS:$S_SESS:$S_SESSTOK" --key "AKIDEXP:$S_EXP" \
    --key "AKIDREV:$S_REV" --key "AKIDTHR:$S_THR" \
    --key "AKIDWRONG:$S_WRONG_RIGHT" --key "AKIDENV:$S_ENV" \
    --key "AKIDPUB:$S_PUB" --public-password "$PUBPW" \
    --web-identity-token-file "$T_DIR/web-identity.token" --role-arn "$ROLE_ARN" \
    --container-path /v2/credentials/depot --container-token "$CTOKEN" \
    --imds-role depot-instance </dev/null >"$T_DIR/stub.out" 2>&1 &
stub_pid=$!
T_PIDS="$T_PIDS $stub_pid"
t_wait_status "$sbase/_control/state" 200 "$stub_pid" || {
	sed 's/^/# /' "$T_DIR/stub.out"
	bail "aws_stub.py did not start"
}
start_upstream ecr htpasswd || bail "docker-registry did not start"
# ECR Public: a registry behind a token service whose user AWS has the
# password of ecr-public's tokens (anonymous clients refused).
UPSTREAM_TOKEN_ARGS="--user $UPSTREAM_USER:$UPSTREAM_PASSWORD --user AWS:$PUBPW --no-anonymous" \
    start_upstream pub token || bail "the ECR Public registry did not start"
pubport=$UPSTREAM_PORT
pubtok=$TOKEN_PORT

# --- 1: the stand-in itself checks what AWS checks
if [ -d "$DEPOT_SRCDIR/tests/data/aws-sigv4" ]; then
	check "1: the stand-in's SigV4 check passes the AWS SigV4 test suite" \
	    python3 "$STUB" --self-test "$DEPOT_SRCDIR/tests/data/aws-sigv4"
else
	skip "1: no tests/data/aws-sigv4 to check the stand-in against"
fi
like "$(python3 "$SIGN" "$sbase/" AKIDSTATIC "$S_STATIC" | tr '\n' ' ')" '^200 .*authorizationToken' \
    "1: the stand-in answers a correctly signed GetAuthorizationToken"
like "$(python3 "$SIGN" "$sbase/" AKIDSTATIC "not-the-secret" | tr '\n' ' ')" \
    '^400 .*InvalidSignatureException' "1: ... and refuses a wrong secret"
like "$(python3 "$SIGN" "$sbase/" AKIDSTATIC "$S_STATIC" --date 20150830T123600Z | tr '\n' ' ')" \
    '^400 .*Signature expired' "1: ... and a stale X-Amz-Date"
like "$(python3 "$SIGN" "$sbase/" AKIDSESS "$S_SESS" | tr '\n' ' ')" \
    '^400 .*UnrecognizedClientException' "1: ... and keys with a session token sent without it"
is "$(http_status "$sbase/latest/meta-data/iam/security-credentials/")" 401 \
    "1: the IMDS stand-in refuses IMDSv1"
is "$(http_status "$sbase/v2/credentials/depot" -H 'Authorization: nope')" 403 \
    "1: the container endpoint refuses a wrong authorization token"
stub reset >/dev/null

# Pushes in parallel; each job's output in $T_DIR/push-NAME.out.
pushes=""
for n in static pod chain host sess exp rev thr s3; do
	upstream_push ecr "oci:$I-$n:1" "team/$n:1" </dev/null >"$T_DIR/push-$n.out" 2>&1 &
	pushes="$pushes $!:$n"
done
upstream_push pub "oci:$I-pub:1" "depot-alias/team/pub:1" </dev/null >"$T_DIR/push-pub.out" 2>&1 &
pushes="$pushes $!:pub"
for p in $pushes; do
	wait "${p%%:*}" || {
		tail -n 5 "$T_DIR/push-${p#*:}.out" | sed 's/^/# /'
		bail "pushing ${p#*:} to the registry failed"
	}
done
# More tags of team/exp: its manifest PUT again under each.
for tg in a b c d e f; do
	curl -sf --max-time 60 -u "$UPSTREAM_USER:$UPSTREAM_PASSWORD" -X PUT \
	    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	    --data-binary "@$(lblob "$I-exp" "$(dg exp)")" -o /dev/null \
	    "http://127.0.0.1:$rport/v2/team/exp/manifests/$tg" ||
		bail "tagging team/exp:$tg failed"
done

# --- depotd with ECR upstreams of static keys. Every upstream reaches the
# stand-ins: registry_url, api_url, sts_url, imds_url.
CONSOLE="https://us-east-1.console.aws.amazon.com/ecr/repositories/private/$ACCOUNT/team/app?region=us-east-1"
stand_ins="registry_url = \"$sbase\"; api_url = \"$sbase\"; sts_url = \"$sbase\";
    imds_url = \"$sbase\"; timeout = 20; tag_ttl = 3600;"
# ecr_up KEY URL AUTH: one upstream entry.
ecr_up() {
	printf '  { key = "%s"; type = "docker"; source = "ecr"; url = "%s";\n    %s\n    auth = %s; },\n' \
	    "$1" "$2" "$stand_ins" "$3"
}
port=$(free_port)
base="http://127.0.0.1:$port"
reg="127.0.0.1:$port"
{
	echo "upstreams = ("
	ecr_up ecr-static "$CONSOLE" "{ type = \"access_key\"; access_key_id = \"AKIDSTATIC\"; secret_access_key_file = \"$T_DIR/static.secret\"; }"
	ecr_up ecr-host "https://$ACCOUNT.dkr.ecr.eu-west-1.amazonaws.com" \
	    "{ type = \"access_key\"; access_key_id = \"AKIDHOST\"; secret_access_key = \"$S_HOST\"; }"
	ecr_up ecr-sess "$CONSOLE" "{ type = \"access_key\"; access_key_id = \"AKIDSESS\"; secret_access_key = \"$S_SESS\"; session_token = \"$S_SESSTOK\"; }"
	ecr_up ecr-exp "$CONSOLE" "{ type = \"access_key\"; access_key_id = \"AKIDEXP\"; secret_access_key_file = \"$T_DIR/exp.secret\"; }"
	ecr_up ecr-rev "$CONSOLE" "{ type = \"access_key\"; access_key_id = \"AKIDREV\"; secret_access_key = \"$S_REV\"; }"
	ecr_up ecr-thr "$CONSOLE" "{ type = \"access_key\"; access_key_id = \"AKIDTHR\"; secret_access_key = \"$S_THR\"; }"
	printf '  { key = "ecr-pub"; type = "docker"; source = "ecr"; url = "https://public.ecr.aws/depot-alias";
    registry_url = "http://127.0.0.1:%s"; api_url = "%s"; token_realms = [ "http://127.0.0.1:%s" ];
    timeout = 20; tag_ttl = 3600;
    auth = { type = "access_key"; access_key_id = "AKIDPUB"; secret_access_key = "%s"; }; },\n' \
	    "$pubport" "$sbase" "$pubtok" "$S_PUB"
	ecr_up ecr-wrong "$CONSOLE" "{ type = \"access_key\"; access_key_id = \"AKIDWRONG\"; secret_access_key = \"$S_WRONG\"; }" |
	    sed '$ s/},$/}/'
	echo ");"
} >"$T_DIR/upstreams.conf"
cat >"$T_DIR/depot.conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$T_DIR/data-$port";
  request_timeout = 60;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
registries = (
  { name = "apps"; type = "docker"; upstreams = [ "ecr-static" ]; }
);
$(cat "$T_DIR/upstreams.conf")
EOC
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID
dlog="$T_DIR/depotd-$port.log"

# --- 2: static keys, console URL form, skopeo and podman
check "2: skopeo pulls through an ECR upstream with static keys (console URL)" \
    sk copy --src-tls-verify=false "docker://$reg/ecr-static/team/static:1" "oci:$T_DIR/out-static:1"
same_tree "$I-static/blobs" "$T_DIR/out-static/blobs" "2: every blob byte-identical"
is "$(gat AKIDSTATIC)" 1 "2: one GetAuthorizationToken for the whole pull"
is "$(sv .last_region)" us-east-1 "2: signed for the console URL's region"
if [ "$podman_ok" = yes ]; then
	check "2: podman pulls through the same upstream" \
	    pm pull -q --tls-verify=false "$reg/ecr-static/team/pod:1"
	is "$(pm image inspect --format '{{.Digest}}' "$reg/ecr-static/team/pod:1" 2>&1)" "$(dg pod)" \
	    "2: ... with the registry's manifest digest"
	is "$(gat AKIDSTATIC)" 1 "2: ... and still one GetAuthorizationToken (the token is reused)"
else
	skip "2: podman cannot run here (root and podman needed)"
	skip "2: podman: manifest digest"
	skip "2: podman: token reused"
fi
is "$(status_code "$base/v2/apps/team/static/manifests/1")" "200 -" \
    "2: a registry whose upstream is ECR serves the image"
"$DEPOTCTL" -c "$T_DIR/depot.conf" setup-client apps >"$T_DIR/setup.out" 2>&1
like "$(cat "$T_DIR/setup.out")" "^docker pull 127\.0\.0\.1:$port/apps/IMAGE:TAG\$" \
    "2: depotctl setup-client works for it"
check "2: a registry host URL (eu-west-1) works too" \
    sk copy --src-tls-verify=false "docker://$reg/ecr-host/team/host:1" "oci:$T_DIR/out-host:1"
like "$(grep 'key=AKIDHOST ' "$T_DIR/stub.log")" 'region=eu-west-1' \
    "2: ... signed for the host's region"
check "2: static keys with a session token work" \
    sk copy --src-tls-verify=false "docker://$reg/ecr-sess/team/sess:1" "oci:$T_DIR/out-sess:1"
is "$(gat AKIDSESS)" 1 "2: ... with X-Amz-Security-Token (one call)"

# ECR Public with keys: ecr-public's GetAuthorizationToken in us-east-1,
# its token as credentials at the registry's token service, image paths
# under the alias.
e0=$(sv .ecr_public)
check "2: skopeo pulls through ECR Public with keys" \
    sk copy --src-tls-verify=false "docker://$reg/ecr-pub/team/pub:1" "oci:$T_DIR/out-pub:1"
same_tree "$I-pub/blobs" "$T_DIR/out-pub/blobs" "2: every blob byte-identical"
is "$(($(sv .ecr_public) - e0)) $(gat AKIDPUB) $(sv .last_service) $(sv .last_region)" \
    "1 1 ecr-public us-east-1" "2: ... after one ecr-public GetAuthorizationToken in us-east-1"
like "$(grep 'user=AWS ' "$T_DIR/token-pub.log" | head -n 1)" 'depot-alias/team/pub:pull.* status=200' \
    "2: ... whose token the registry's token service accepted for the alias' image"

# --- 3: the token expires during the test: exactly one refresh for
# concurrent pulls on both workers, and never a request with it expired.
# pause_worker PID / resume_worker PID: a stopped worker accepts nothing.
pause_worker() {
	local i=0
	kill -STOP "$1"
	while [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != T ]; do
		[ "$i" -ge 600 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}
resume_worker() {
	kill -CONT "$1"
}
# replaced PID: the master runs two workers again, PID not among them.
replaced() {
	local w
	w=$(workers_of "$master")
	[ "$(echo $w | wc -w)" = 2 ] && ! echo " $w " | grep -q " $1 "
}

# The token outlives the worker that fetched it: a worker started after
# that one was killed uses it.
# shellcheck disable=SC2046
set -- $(workers_of "$master")
[ -n "${2:-}" ] || bail "depotd does not run two workers"
old1=$1
old2=$2
kill -KILL "$old1"
check "3: the master replaces a killed worker" t_wait_for replaced "$old1"
pause_worker "$old2" || bail "cannot stop worker $old2"
is "$(status_code "$base/v2/ecr-static/team/host/manifests/1")" "200 -" \
    "3: the new worker pulls through ecr-static"
resume_worker "$old2"
is "$(gat AKIDSTATIC)" 1 "3: ... with the token fetched before (no GetAuthorizationToken)"

# shellcheck disable=SC2046
set -- $(workers_of "$master")
w1=${1:-}
w2=${2:-}
[ -n "$w2" ] || bail "depotd does not run two workers"
# test_expired: the last token the stand-in handed out has expired.
test_expired() {
	[ "$(sv .tokens_expired)" = true ]
}
# accepted_by PID N: PID holds at least N connections accepted on port.
accepted_by() {
	[ "$(ss -Htnp state established "( sport = :$port )" | grep -c "pid=$1,")" -ge "$2" ]
}
# held N: N GetAuthorizationToken calls wait at the stand-in.
held() {
	[ "$(sv .gat_held)" -ge "$1" ]
}
# mget TAG N: GET the manifest of team/exp:TAG in the background; status
# in $T_DIR/exp-N.st.
mget() {
	# shellcheck disable=SC2086
	curl -s --max-time 120 $ACCEPT -o "$T_DIR/exp-$2.body" -w '%{http_code}' \
	    "$base/v2/ecr-exp/team/exp/manifests/$1" >"$T_DIR/exp-$2.st" &
	eval "mget_$2=\$!"
}
stub "set?token_ttl=2" >/dev/null
is "$(status_code "$base/v2/ecr-exp/team/exp/manifests/a")" "200 -" \
    "3: a pull with a token that expires in 2 s"
stub "set?token_ttl=43200" >/dev/null
g0=$(gat AKIDEXP)
# expired_or_renewed: the token has expired, or depot renewed it ahead of
# its expiry on its own (the refresh this case counts).
expired_or_renewed() {
	[ "$(sv .tokens_expired)" = true ] || [ "$(gat AKIDEXP)" -gt "$g0" ]
}
check "3: that token expires (or is renewed ahead of its expiry)" \
    t_wait_for -t 30 expired_or_renewed
if [ "$(gat AKIDEXP)" -eq "$g0" ]; then
	# The refresh is still to come: hold it in flight at the stand-in
	# while each worker gets pulls.
	stub "set?hold=on" >/dev/null
	pause_worker "$w2" || bail "cannot stop worker $w2"
	mget b 1
	t_wait_for held 1 || echo "# no GetAuthorizationToken reached the stand-in"
	resume_worker "$w2"
	pause_worker "$w1" || bail "cannot stop worker $w1"
	mget c 2
	mget d 3
	t_wait_for accepted_by "$w2" 2 || echo "# worker $w2 did not accept the pulls"
	resume_worker "$w1"
	mget e 4
	mget f 5
	stub "set?hold=off" >/dev/null
else
	echo "# depotd renewed the token ahead of its expiry on its own"
	for n in 1 2 3 4 5; do
		mget "$(echo bcdef | cut -c"$n")" "$n"
	done
fi
for n in 1 2 3 4 5; do
	eval "wait \$mget_$n"
done
is "$(for n in 1 2 3 4 5; do printf '%s ' "$(cat "$T_DIR/exp-$n.st")"; done)" \
    "200 200 200 200 200 " \
    "3: five concurrent pulls on both workers, the token expired: all served"
is "$(($(gat AKIDEXP) - g0))" 1 "3: ... with exactly one GetAuthorizationToken"
is "$(grep -E 'ecr-exp/team/exp:[b-f]' "$dlog" |
    sed -n 's/^depotd\[\([0-9]*\)\] worker:.*/\1/p' | sort -u | wc -l)" 2 \
    "3: ... and both workers took part (their log lines)"
is "$(sv .denied_expired)" 0 "3: the expired token was never sent to the registry"

# --- 4: the registry answers 401 while the token has not expired: one
# refresh, then success.
check "4: a first pull with AKIDREV" \
    sk copy --src-tls-verify=false "docker://$reg/ecr-rev/team/rev:1" "oci:$T_DIR/out-rev:1"
r0=$(gat AKIDREV)
stub revoke >/dev/null
rm -rf "$T_DIR/out-rev2"
is "$(status_code "$base/v2/ecr-rev/team/static/manifests/1")" "200 -" \
    "4: the registry refuses the token (password rotated): the pull still succeeds"
is "$(($(gat AKIDREV) - r0))" 1 "4: ... after exactly one refresh"

# --- 5: a wrong secret: a clear error, one log line with AWS's code
e0=$(errors_of InvalidSignatureException)
l0=$(log_count "$port" InvalidSignatureException)
like "$(status_code "$base/v2/ecr-wrong/team/static/manifests/1")" '^(401|403|502|503) ' \
    "5: a wrong secret: the pull fails"
cp "$T_DIR/body" "$T_DIR/wrong.body"
like "$(jq -r '.errors[0] | "\(.message) \(.detail)"' "$T_DIR/wrong.body" 2>&1)" \
    '(InvalidSignature|[Ss]ignature|[Ss]ecret|[Cc]redential)' \
    "5: ... with an error that says the AWS credentials were refused"
is "$(($(errors_of InvalidSignatureException) - e0))" 1 "5: ... after one GetAuthorizationToken"
is "$(($(log_count "$port" InvalidSignatureException) - l0))" 1 \
    "5: ... and one log line with AWS's error code"

# --- 6: AWS throttles: a clear error and one log line, and the expired
# token is not used instead; once AWS answers again, the pull succeeds.
stub "set?token_ttl=2" >/dev/null
is "$(status_code "$base/v2/ecr-thr/team/thr/manifests/1")" "200 -" \
    "6: a pull with a token that expires in 2 s"
stub "set?token_ttl=43200" >/dev/null
check "6: that token expires" t_wait_for -t 30 test_expired
stub "set?throttle=on" >/dev/null
l0=$(log_count "$port" ThrottlingException)
d0=$(sv .denied_expired)
like "$(status_code "$base/v2/ecr-thr/team/exp/manifests/a")" '^(429|502|503) ' \
    "6: AWS throttles GetAuthorizationToken: the pull fails"
like "$(jq -r '.errors[0] | "\(.message) \(.detail)"' "$T_DIR/body" 2>&1)" \
    '(Throttl|throttl|[Rr]ate)' "6: ... with an error that says AWS throttled"
is "$(($(log_count "$port" ThrottlingException) - l0))" 1 \
    "6: ... and one log line with AWS's error code"
is "$(sv .denied_expired)" "$d0" "6: ... and the expired token was not tried instead"
stub "set?throttle=off" >/dev/null
is "$(status_code "$base/v2/ecr-thr/team/exp/manifests/a")" "200 -" \
    "6: AWS answers again: the next pull succeeds"

# --- 7: blob downloads redirected to "S3", which refuses Authorization
stub "set?redirect=on" >/dev/null
check "7: skopeo pulls an image whose blobs ECR redirects to S3" \
    sk copy --src-tls-verify=false "docker://$reg/ecr-static/team/s3:1" "oci:$T_DIR/out-s3:1"
same_tree "$I-s3/blobs" "$T_DIR/out-s3/blobs" "7: every blob byte-identical"
is "$(sv .s3_with_auth)" 0 "7: depot never sent Authorization to S3"
like "$(sv .s3_served)" '^([4-9]|[1-9][0-9]+)$' "7: the blobs came from S3 (3 layers and the config)"
stub "set?redirect=off" >/dev/null

# --- 8: secrets never show: log, error bodies, /metrics, /api, depotctl
stub state >"$T_DIR/stub.state"
printf '%s\n' "$S_STATIC" "$S_HOST" "$S_SESS" "$S_SESSTOK" "$S_EXP" "$S_REV" \
    "$S_THR" "$S_WRONG" "$S_PUB" "$PUBPW" "$WEBTOKEN" "$CTOKEN" "$(jq -r .password "$T_DIR/stub.state")" \
    | grep -v '^$' >"$T_DIR/secrets.list"
curl -s --max-time 20 "$base/metrics" >"$T_DIR/metrics.out"
curl -s --max-time 20 "$base/api/v1/upstreams" >"$T_DIR/api.out"
"$DEPOTCTL" -c "$T_DIR/depot.conf" upstream show ecr-static >"$T_DIR/ctl-show.out" 2>&1
"$DEPOTCTL" -c "$T_DIR/depot.conf" upstream show ecr-host --json >>"$T_DIR/ctl-show.out" 2>&1
"$DEPOTCTL" -c "$T_DIR/depot.conf" upstream show ecr-sess >>"$T_DIR/ctl-show.out" 2>&1
like "$(cat "$T_DIR/metrics.out")" 'ecr-exp' "8: /metrics has series of the ECR upstreams"
like "$(grep -v '^#' "$T_DIR/metrics.out" | grep -i token | grep -i refresh |
    grep -iv fail | grep 'upstream="ecr-exp"')" ' [2-9]$' \
    "8: /metrics counts token refreshes per upstream"
like "$(grep -v '^#' "$T_DIR/metrics.out" | grep -i token | grep -i fail |
    grep 'upstream="ecr-wrong"')" ' [1-9]$' "8: ... and their failures"
like "$(cat "$T_DIR/ctl-show.out")" 'AKIDSTATIC' "8: depotctl upstream show names the access key id"
none_of "$dlog" "8: no secret in depotd's log"
none_of "$T_DIR/access-$port.log" "8: no secret in the access log"
none_of "$T_DIR/wrong.body" "8: no secret in the error body"
none_of "$T_DIR/metrics.out" "8: no secret in /metrics"
none_of "$T_DIR/api.out" "8: no secret in /api/v1/upstreams"
none_of "$T_DIR/ctl-show.out" "8: no secret in depotctl upstream show"
stop_depotd "$master"
is "$?" 0 "8: depotd stops cleanly"

# --- 9: the AWS default credential chain, one link after the other, in
# the SDKs' order: each depotd has every later link available too.
cport=$(free_port)
cbase="127.0.0.1:$cport"
# chain_start NAME: start a depotd (its master has the environment
# exported now) with one aws_default upstream, ecr-chain; 1 when it did
# not start (recorded as a failure).
chain_start() {
	rm -rf "$T_DIR/data-$cport"
	write_conf "$T_DIR/chain.conf" "$cport" "request_timeout = 60;" \
	    "upstreams = ( $(ecr_up ecr-chain "https://$ACCOUNT.dkr.ecr.us-west-2.amazonaws.com" \
	    '{ type = "aws_default"; }' | sed '$ s/},$/}/') );"
	start_depotd "$T_DIR/chain.conf" "$cport" && return 0
	not_ok "9: depotd starts with $1 credentials"
	return 1
}
# chain_stop NAME: stop it, keeping its log as chain-NAME.dlog.
chain_stop() {
	cp "$T_DIR/depotd-$cport.log" "$T_DIR/chain-$1.dlog"
	stop_depotd "$DEPOTD_PID"
	# shellcheck disable=SC2086
	T_PIDS=$(printf ' %s ' $T_PIDS | sed "s/ $DEPOTD_PID / /g")
}
# chain_run NAME: such a depotd pulls team/chain:1 with skopeo (and
# podman, for imds).
chain_run() {
	local name=$1
	rm -rf "$T_DIR/out-chain-$name"
	chain_start "$name" || return
	check "9: skopeo pulls through aws_default from $name" \
	    sk copy --src-tls-verify=false "docker://$cbase/ecr-chain/team/chain:1" \
	    "oci:$T_DIR/out-chain-$name:1"
	if [ "$name" = imds ] && [ "$podman_ok" = yes ]; then
		pm rmi -a -f >/dev/null 2>&1
		check "9: podman pulls through aws_default from $name" \
		    pm pull -q --tls-verify=false "$cbase/ecr-chain/team/chain:1"
	fi
	chain_stop "$name"
}
export AWS_WEB_IDENTITY_TOKEN_FILE="$T_DIR/web-identity.token"
export AWS_ROLE_ARN="$ROLE_ARN" AWS_ROLE_SESSION_NAME=depot-test
export AWS_CONTAINER_CREDENTIALS_FULL_URI="$sbase/v2/credentials/depot"
export AWS_CONTAINER_AUTHORIZATION_TOKEN="$CTOKEN"

stub reset >/dev/null
export AWS_ACCESS_KEY_ID=AKIDENV AWS_SECRET_ACCESS_KEY="$S_ENV"
chain_run environment
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
is "$(gat AKIDENV) $(sv .sts) $(sv .container) $(sv .imds_token)" "1 0 0 0" \
    "9: the environment's keys come first (no STS, container or IMDS call)"
is "$(sv .last_region)" us-west-2 "9: ... signed for the upstream's region"

stub reset >/dev/null
chain_run web-identity
is "$(sv .sts) $(sv .sts_err) $(sv .gat_by_kind.sts) $(sv .container) $(sv .imds_token)" "1 0 1 0 0" \
    "9: then web identity: one AssumeRoleWithWebIdentity, its keys sign GetAuthorizationToken"

# Role credentials that expire are fetched again, before they are used
# expired: ask for credentials and a token that live 2 s.
stub reset >/dev/null
stub "set?creds_ttl=2&token_ttl=2" >/dev/null
if chain_start role-expiry; then
	is "$(status_code "http://$cbase/v2/ecr-chain/team/chain/manifests/1")" "200 -" \
	    "9: a pull with role credentials and a token that expire in 2 s"
	stub "set?creds_ttl=3600&token_ttl=43200" >/dev/null
	s0=$(sv .sts)
	check "9: both expire" t_wait_for -t 30 test_expired
	is "$(status_code "http://$cbase/v2/ecr-chain/team/exp/manifests/a")" "200 -" \
	    "9: the next pull works"
	is "$(($(sv .sts) - s0)) $(errors_of ExpiredTokenException)" "1 0" \
	    "9: ... with new role credentials from STS, never the expired ones"
	chain_stop role-expiry
fi
stub "set?creds_ttl=3600&token_ttl=43200" >/dev/null
unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME

stub reset >/dev/null
chain_run container
is "$(sv .container) $(sv .container_err) $(sv .gat_by_kind.container) $(sv .imds_token)" "1 0 1 0" \
    "9: then the container credentials endpoint, with its authorization token"
unset AWS_CONTAINER_AUTHORIZATION_TOKEN
printf '%s' "$CTOKEN" >"$T_DIR/container.token"
export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$T_DIR/container.token"
stub reset >/dev/null
chain_run container-token-file
is "$(sv .container) $(sv .container_err) $(sv .gat_by_kind.container)" "1 0 1" \
    "9: ... or its authorization token file"
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE

stub reset >/dev/null
chain_run imds
is "$(sv .imds_creds) $(sv .gat_by_kind.imds)" "1 1" \
    "9: then IMDSv2: one role credentials GET, its keys sign GetAuthorizationToken"
is "$(sv .imds_err)" 0 "9: ... with a session token on every metadata request (no IMDSv1)"
for f in "$T_DIR"/chain-*.dlog; do
	cat "$f"
done >"$T_DIR/chain.dlogs"
none_of "$T_DIR/chain.dlogs" "9: no secret or token in the logs of the chain's depotds"

# --- 10: URL forms, through depotd -t and depotctl upstream create
cat >"$T_DIR/urls-ok" <<EOU
https://us-east-1.console.aws.amazon.com/ecr/repositories/private/$ACCOUNT/team/app?region=us-east-1
https://eu-central-1.console.aws.amazon.com/ecr/repositories/private/$ACCOUNT/app?region=eu-central-1
https://$ACCOUNT.dkr.ecr.eu-west-1.amazonaws.com
https://$ACCOUNT.dkr.ecr-fips.us-gov-west-1.amazonaws.com
https://$ACCOUNT.dkr.ecr.cn-north-1.amazonaws.com.cn
https://public.ecr.aws/depot-alias
https://gallery.ecr.aws/depot-alias
EOU
# Each line: the grep -E pattern the refusal must match, the URL.
cat >"$T_DIR/urls-bad" <<EOU
dkr\.ecr https://example.com/x
dkr\.ecr https://$ACCOUNT.dkr.ecr.us-east-1.amazonaws.com.example.com
dkr\.ecr https://12345.dkr.ecr.us-east-1.amazonaws.com
region https://us-east-1.console.aws.amazon.com/ecr/repositories/private/$ACCOUNT/app?region=eu-west-1
public\.ecr\.aws https://us-east-1.console.aws.amazon.com/ecr/repositories/public/$ACCOUNT/app?region=us-east-1
public\.ecr\.aws https://public.ecr.aws/
EOU
# conf_t FILE: depotd -t on a config with one ECR upstream per URL of
# FILE (the last word of each line), each on a line of its own; sets rc
# and out (its output).
conf_t() {
	local n=0 url
	while read -r url; do
		n=$((n + 1))
		printf '  { key = "u%d"; type = "docker"; source = "ecr"; auth = { type = "aws_default"; };\n    url = "%s"; },\n' \
		    "$n" "${url##* }"
	done <"$1" | sed '$ s/},$/}/' >"$T_DIR/t.ups"
	write_conf "$T_DIR/t.conf" "$port" "" "upstreams = (
$(cat "$T_DIR/t.ups")
);"
	out=$("$DEPOTD" -t -c "$T_DIR/t.conf" 2>&1)
	rc=$?
}
# dc_create KEY URL: depotctl upstream create on a config of its own.
dc_create() {
	out=$("$DEPOTCTL" -c "$T_DIR/ctl.conf" upstream create "$1" --type docker \
	    --source ecr --url "$2" --auth access_key --access-key-id AKIDCTL \
	    --secret-file "$T_DIR/static.secret" 2>&1 </dev/null)
	rc=$?
}
conf_t "$T_DIR/urls-ok"
is "$rc" 0 "10: depotd -t accepts every ECR URL form ($(wc -l <"$T_DIR/urls-ok") of them)"
[ "$rc" = 0 ] || printf '%s\n' "$out" | head -n 8 | sed 's/^/#   /'
conf_t "$T_DIR/urls-bad"
is "$rc" 1 "10: depotd -t refuses a file of wrong ECR URLs"
tout=$out
write_conf "$T_DIR/ctl.conf" "$port"
n=0
while read -r url; do
	n=$((n + 1))
	dc_create "ok$n" "$url"
	is "$rc" 0 "10: depotctl upstream create accepts $url"
	[ "$rc" = 0 ] || printf '%s\n' "$out" | head -n 3 | sed 's/^/#   /'
done <"$T_DIR/urls-ok"
n=0
while read -r pattern url; do
	n=$((n + 1))
	line=$(grep -n -F "url = \"$url\";" "$T_DIR/t.conf" | cut -d: -f1)
	like "$(printf '%s\n' "$tout" | grep -F "t.conf:$line:")" "$pattern" \
	    "10: depotd -t refuses $url, saying so ($pattern)"
	dc_create "bad$n" "$url"
	is "$rc" 1 "10: depotctl upstream create refuses $url"
	like "$out" "$pattern" "10: ... saying so ($pattern)"
done <"$T_DIR/urls-bad"
# one_t AUTH: depotd -t on one ECR upstream with that auth group.
one_t() {
	write_conf "$T_DIR/t.conf" "$port" "" "upstreams = (
  { key = \"e\"; type = \"docker\"; source = \"ecr\"; url = \"$CONSOLE\"; auth = $1; }
);"
	out=$("$DEPOTD" -t -c "$T_DIR/t.conf" 2>&1)
	rc=$?
}
one_t "{ type = \"access_key\"; access_key_id = \"AKIDX\"; }"
is "$rc" 1 "10: depotd -t refuses access_key without a secret"
one_t "{ type = \"access_key\"; access_key_id = \"AKIDX\"; secret_access_key = \"$S_STATIC\"; }"
is "$rc" 0 "10: depotd -t accepts access_key with an inline secret"
printf '%s\n' "$out" >"$T_DIR/t.out"
none_of "$T_DIR/t.out" "10: depotd -t does not print the secret"
