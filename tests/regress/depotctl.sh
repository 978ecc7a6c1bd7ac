#!/bin/sh
# depotctl.sh: depotctl end to end: --help of every command, exit codes
# 0/1/2, each command and each refusal (bad names, type pairing, unknown
# upstreams, one namespace for both kinds, an upstream still in use,
# objects defined by hand in depot.conf), the files it writes (accepted by
# depotd -t, nothing left behind on refusal), --json, secrets read from
# standard input (0600, never printed), concurrent runs, a registry served
# after `depotctl reload` without a restart, a reload depotd refuses,
# setup-client lines run against the daemon, and registry delete --purge.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"
[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
command -v curl >/dev/null || skip_all "curl is not installed"

port=$(free_port)
base="http://127.0.0.1:$port"
conf="$T_DIR/depot.conf"
dropin="$T_DIR/depot.d"
data="$T_DIR/data-$port"
write_conf "$conf" "$port" "" \
    'upstreams = ( { key = "hub"; type = "docker"; source = "dockerhub"; } );'
conf_sum=$(cksum <"$conf")

# dc ARGS: depotctl on the test configuration, standard input empty;
# sets rc, out and err.
dc() {
	"$DEPOTCTL" -c "$conf" "$@" >"$T_DIR/dc.out" 2>"$T_DIR/dc.err" </dev/null
	rc=$?
	out=$(cat "$T_DIR/dc.out")
	err=$(cat "$T_DIR/dc.err")
}

# dc_in TEXT ARGS: the same, with TEXT on standard input.
dc_in() {
	local text=$1
	shift
	printf '%s\n' "$text" | "$DEPOTCTL" -c "$conf" "$@" \
	    >"$T_DIR/dc.out" 2>"$T_DIR/dc.err"
	rc=$?
	out=$(cat "$T_DIR/dc.out")
	err=$(cat "$T_DIR/dc.err")
}

# refused DESC PATTERN ARGS: depotctl must exit 1 with PATTERN on stderr.
refused() {
	local desc=$1 pattern=$2
	shift 2
	dc "$@"
	if [ "$rc" = 1 ] && printf '%s\n' "$err" | grep -Eq -- "$pattern"; then
		ok "$desc"
	else
		not_ok "$desc"
		echo "#   exit $rc, stderr: $err" | head -n 5
		echo "#   want exit 1 and: $pattern"
	fi
}

# dot_files: hidden files in depot.d but the lock (temp files left over).
dot_files() {
	ls -A "$dropin" 2>/dev/null | grep '^\.' | grep -v '^\.depotctl\.lock$'
}

# conf_ok: depotd -t accepts the configuration with every depot.d file.
conf_ok() {
	"$DEPOTD" -t -c "$conf"
}

rule="starts with a lowercase letter and has only a-z 0-9 _ \. - \(1 to 64 characters\)"

# --- help and usage errors
dc --help
is "$rc" 0 "depotctl --help exits 0"
like "$out" "registry set-upstreams" "--help lists the commands"
helps=0
for cmd in "registry create" "registry list" "registry show" "registry delete" \
    "registry update" "registry set-upstreams" "upstream create" "upstream list" \
    "upstream show" "upstream delete" "setup-client" "reload"; do
	# shellcheck disable=SC2086
	dc $cmd --help
	if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q "usage: depotctl \[-c FILE\] $cmd"; then
		helps=$((helps + 1))
	else
		echo "# $cmd --help: exit $rc: $out $err"
	fi
done
is "$helps" 12 "every command answers --help with its usage, exit 0"
dc registry --help
is "$rc" 0 "registry --help lists the registry commands"
dc
is "$rc" 2 "no command: exit 2"
dc frobnicate
is "$rc" 2 "an unknown command: exit 2"
dc registry frobnicate
is "$rc" 2 "an unknown registry command: exit 2"
dc registry create team
is "$rc" 2 "registry create without --type: exit 2"
like "$err" "--type is required" "the usage error says what is missing"
dc registry create --type docker
is "$rc" 2 "registry create without a name: exit 2"
dc registry create a b --type docker
is "$rc" 2 "an extra argument: exit 2"
dc registry create team --type docker --colour blue
is "$rc" 2 "an unknown option: exit 2"
dc registry list --json extra
is "$rc" 2 "registry list takes no argument: exit 2"
dc -x registry list
is "$rc" 2 "an unknown global option: exit 2"

# --- no depotd yet
refused "reload without a running depotd is refused" "no depotd is running" reload

# --- registry create, list, show
dc registry create team --type docker --upstream hub --description 'team "A" images' \
    --label prod --label team-a
is "$rc" 0 "registry create exits 0"
like "$out" "registry 'team' created in $dropin/registry-team.conf" "it says where it wrote"
check "the file is depot.d/registry-team.conf" test -f "$dropin/registry-team.conf"
check "depotd -t accepts the file depotctl wrote" conf_ok
is "$(dot_files)" "" "no temp file is left in depot.d"
is "$(cksum <"$conf")" "$conf_sum" "depot.conf is not touched"

dc registry list
is "$rc" 0 "registry list exits 0"
like "$out" "^NAME +TYPE +UPSTREAMS +DEFINED IN" "the list has a header"
like "$out" "^docker-local +docker +- +depot.conf:[0-9]+" "a registry of depot.conf, with its line"
like "$out" "^team +docker +hub +depot.d/registry-team.conf" "the new registry, with its file"
dc registry list --json
is "$(printf '%s' "$out" | jq -r '[.[].name] | join(",")' 2>&1)" "docker-local,team" \
    "registry list --json parses, in definition order"
is "$(printf '%s' "$out" | jq -r '.[1].managed' 2>&1)" true "--json says depotctl wrote it"
dc registry show team --json
is "$(printf '%s' "$out" | jq -r '.description' 2>&1)" 'team "A" images' \
    "registry show --json: the description survives quoting"
is "$(printf '%s' "$out" | jq -r '.labels | join(",")' 2>&1)" "prod,team-a" \
    "registry show --json: the labels"
is "$(printf '%s' "$out" | jq -r '.upstreams[0] | "\(.key) \(.source) \(.auth)"' 2>&1)" \
    "hub dockerhub anonymous" "registry show --json: each upstream with source and auth"

# --- refusals of registry create
for name in 1abc Abc a/b "$(printf 'a%.0s' $(seq 65))"; do
	refused "registry name '$(printf '%.12s' "$name")...' is refused with the rule" "$rule" \
	    registry create "$name" --type docker
done
refused "an upstream key '1abc' is refused with the rule" "$rule" \
    upstream create 1abc --type docker --source dockerhub
refused "a wrong type is refused" "--type must be docker or helm" registry create x --type rpm
refused "a helm registry cannot list a docker upstream" \
    "upstream 'hub' is of type docker, but registry 'charts' is of type helm" \
    registry create charts --type helm --upstream hub
refused "an unknown upstream is refused" "upstream 'nope' is not defined" \
    registry create x --type docker --upstream nope
refused "a registry is not an upstream" "'team' is a registry, not an upstream" \
    registry create x --type docker --upstream team
refused "a registry name taken by an upstream is refused" \
    "'hub' is already defined as an upstream at $conf:[0-9]+" registry create hub --type docker
refused "an upstream key taken by a registry is refused" \
    "'team' is already defined as a registry at $dropin/registry-team.conf" \
    upstream create team --type docker --source dockerhub
refused "a registry defined twice is refused" "already defined as a registry" \
    registry create team --type helm
refused "a bad label is refused with depotd's file:line" \
    "registry-x.conf:[0-9]+: 'Bad Label' in 'labels' is not a label" \
    registry create x --type docker --label 'Bad Label'
check "nothing was written for the refusals" test ! -e "$dropin/registry-x.conf" \
    -a ! -e "$dropin/registry-1abc.conf" -a ! -e "$dropin/registry-charts.conf"
is "$(dot_files)" "" "no temp file is left after the refusals"

# --- upstreams, set-upstreams, update
dc upstream create mirror --type docker --source custom --url https://mirror.example.com/
is "$rc" 0 "upstream create (custom) exits 0"
dc upstream create charts-up --type helm --source custom --url https://charts.example.com
is "$rc" 0 "upstream create (helm) exits 0"
refused "a helm upstream needs source custom" "helm upstream must have --source custom" \
    upstream create h2 --type helm --source dockerhub
refused "a custom upstream needs --url" "--url is required" \
    upstream create u2 --type docker --source custom
refused "an ECR upstream needs an ECR URL" "is not an ECR host" \
    upstream create e2 --type docker --source ecr --url https://example.com/x
dc upstream create ecr1 --type docker --source ecr --auth aws_default \
    --url 'https://eu-west-1.console.aws.amazon.com/ecr/repositories/private/123456789012/team/app?region=eu-west-1'
is "$rc" 0 "an ECR console URL is accepted"
refused "userpass needs a password file" "--auth userpass needs" \
    upstream create u3 --type docker --source custom --url https://x.example.com --username ci

dc registry set-upstreams team mirror ecr1 hub
is "$rc" 0 "registry set-upstreams exits 0"
dc registry show team --json
is "$(printf '%s' "$out" | jq -r '[.upstreams[].key] | join(" ")' 2>&1)" "mirror ecr1 hub" \
    "set-upstreams keeps the order given (query order)"
dc registry show team
like "$out" "1\. +mirror +custom +anonymous" "registry show lists upstream 1 with source and auth"
like "$out" "3\. +hub +dockerhub +anonymous" "registry show lists upstream 3 with source and auth"
refused "set-upstreams refuses an upstream of another type" "is of type helm" \
    registry set-upstreams team charts-up
refused "set-upstreams refuses an unknown upstream" "upstream 'ghost' is not defined" \
    registry set-upstreams team ghost
dc registry update team --description "new words" --label x1
is "$rc" 0 "registry update exits 0"
dc registry show team --json
is "$(printf '%s' "$out" | jq -r '"\(.description)|\(.labels|join(","))|\(.upstreams|length)"' 2>&1)" \
    "new words|x1|3" "update replaces description and labels, keeps the upstreams"
check "depotd -t accepts the rewritten file" conf_ok

refused "an upstream in use cannot be deleted; the registry is named" \
    "upstream 'mirror' is still listed by registry team" upstream delete mirror
check "the used upstream's file stays" test -f "$dropin/upstream-mirror.conf"

# --- objects defined by hand in depot.conf
refused "update of a depot.conf registry is refused, saying where" \
    "defined by hand at $conf:[0-9]+: edit it there" registry update docker-local --description x
refused "set-upstreams of a depot.conf registry is refused" "defined by hand at $conf:[0-9]+" \
    registry set-upstreams docker-local hub
refused "delete of a depot.conf registry is refused" "defined by hand at $conf:[0-9]+" \
    registry delete docker-local
dc registry set-upstreams team mirror ecr1
refused "delete of a depot.conf upstream is refused" "upstream 'hub' is defined by hand at $conf:[0-9]+" \
    upstream delete hub
is "$(cksum <"$conf")" "$conf_sum" "depot.conf is never rewritten"
refused "show of an unknown registry: exit 1" "registry 'ghost' is not defined" registry show ghost
refused "an upstream is not a registry" "'hub' is an upstream, not a registry" registry show hub

# --- secrets
secret="TopSecret-$$-pw"
dc_in "$secret" upstream create privreg --type docker --source custom \
    --url https://private.example.com --username ci --password-file -
is "$rc" 0 "upstream create reads the password from standard input"
sfile="$T_DIR/secrets/upstream-privreg"
is "$(stat -c %a "$sfile" 2>&1)" 600 "the secret file has mode 0600"
is "$(stat -c %a "$T_DIR/secrets" 2>&1)" 700 "the secrets folder has mode 0700"
is "$(cat "$sfile")" "$secret" "the secret file holds the secret"
dc upstream show privreg
like "$out" "password +$sfile" "upstream show gives the secret file's path"
all=$out
dc upstream show privreg --json
is "$(printf '%s' "$out" | jq -r '.credentials.password_file' 2>&1)" "$sfile" \
    "upstream show --json gives the secret file's path"
all="$all $out"
dc upstream list
all="$all $out"
dc upstream list --json
is "$(printf '%s' "$out" | jq -r '.[] | select(.key == "privreg") | .auth' 2>&1)" userpass \
    "upstream list --json parses"
all="$all $out"
dc registry list --json
all="$all $out"
case $all in
*"$secret"*) not_ok "the secret never appears in show or list output" ;;
*) ok "the secret never appears in show or list output" ;;
esac
check "depotd -t accepts the upstream with its secret file" conf_ok

secret2="Other-$$-pw"
dc_in "$secret2" upstream create badecr --type docker --source ecr \
    --url https://example.com/nope --access-key-id AKIAEXAMPLE --secret-file -
is "$rc" 1 "a refused upstream with a secret on standard input: exit 1"
check "its secret file is not left behind" test ! -e "$T_DIR/secrets/upstream-badecr"
case "$out $err" in
*"$secret2"*) not_ok "the secret is not in the refusal" ;;
*) ok "the secret is not in the refusal" ;;
esac
printf 'pw\n' >"$T_DIR/pw-open"
chmod 644 "$T_DIR/pw-open"
refused "a password file readable by others is refused as depotd refuses it" \
    "has mode 0644: it must not be accessible by group or others" \
    upstream create openpw --type docker --source custom --url https://o.example.com \
    --username ci --password-file "$T_DIR/pw-open"
chmod 600 "$T_DIR/pw-open"
dc upstream create filepw --type docker --source custom --url https://o.example.com \
    --username ci --password-file "$T_DIR/pw-open"
is "$rc" 0 "a password file of mode 0600 is referenced"
dc upstream show filepw
like "$out" "password +$T_DIR/pw-open" "show names the referenced file"

dc upstream delete privreg
is "$rc" 0 "upstream delete of an unused upstream exits 0"
check "its file is gone" test ! -e "$dropin/upstream-privreg.conf"
check "the secret file depotctl stored is gone" test ! -e "$sfile"
check "depotd -t accepts the configuration after the deletes" conf_ok

# --- concurrent runs
pids=""
for i in 1 2 3 4 5 6 7 8; do
	( "$DEPOTCTL" -c "$conf" registry create "par$i" --type docker >/dev/null 2>&1
	  echo $? >"$T_DIR/par$i.rc" ) &
	pids="$pids $!"
	( "$DEPOTCTL" -c "$conf" registry create same --type docker --label "n$i" \
	    >/dev/null 2>&1
	  echo $? >"$T_DIR/same$i.rc" ) &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p"
done
is "$(cat "$T_DIR"/par?.rc | sort | uniq -c | awk '{print $1 ":" $2}')" "8:0" \
    "8 parallel creates of different names all succeed"
is "$(cat "$T_DIR"/same?.rc | sort | uniq -c | awk '{print $1 ":" $2}' | tr '\n' ' ')" \
    "1:0 7:1 " "of 8 parallel creates of one name exactly one wins"
check "every file parses: depotd -t accepts the result" conf_ok
is "$(ls "$dropin" | grep -c '^registry-par[1-8]\.conf$')" 8 "the 8 files are there"
is "$(dot_files)" "" "no temp file is left by the parallel runs"

# --- a running depotd: reload, serve without restart
start_depotd "$conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID
code_of() {
	curl -s "$base$1" | jq -r '.errors[0].code // "none"' 2>/dev/null
}
is "$(code_of /v2/fresh/x/manifests/latest)" NAME_UNKNOWN "an undefined registry is NAME_UNKNOWN"
is "$(code_of /v2/fresh/x/tags/list)" NAME_UNKNOWN "tags/list of an undefined registry is NAME_UNKNOWN"
dc registry create fresh --type docker
is "$rc" 0 "registry create while depotd runs"
dc reload
is "$rc" 0 "depotctl reload exits 0 when depotd accepts the configuration"
like "$out" "depotd \(pid $master\) reloaded the configuration \(generation [0-9]+\)" \
    "reload reports the new generation"
is "$(code_of /v2/fresh/x/manifests/latest)" MANIFEST_UNKNOWN \
    "after reload the registry is served (an unknown manifest, not an unknown name)"
check "the same master serves: no restart" kill -0 "$master"

echo 'registries = ( { name = "Broken Name"; type = "docker"; } );' >"$dropin/zz-broken.conf"
dc reload
is "$rc" 1 "reload of a broken configuration exits 1"
like "$err" "refused the configuration and keeps the running one" "it says depotd refused it"
like "$err" "zz-broken.conf:1: invalid registry name" "it shows depotd's file:line message"
rm -f "$dropin/zz-broken.conf"
is "$(code_of /v2/fresh/x/manifests/latest)" MANIFEST_UNKNOWN "the running configuration is kept"
dc reload
is "$rc" 0 "reload after the fix exits 0"

# --- setup-client
dc setup-client fresh
is "$rc" 0 "setup-client of a docker registry exits 0"
like "$out" "^docker pull 127\.0\.0\.1:$port/fresh/IMAGE:TAG$" "a docker pull line for this depot"
like "$out" "^docker push 127\.0\.0\.1:$port/fresh/IMAGE:TAG$" "a docker push line"
like "$out" "insecure-registries.*127\.0\.0\.1:$port" "plain http: the insecure-registries setting"
check "no login lines without an auth group" sh -c "! grep -q 'login' '$T_DIR/dc.out'"
check "no mirror snippet without a Docker Hub upstream" sh -c "! grep -q 'registry-mirrors' '$T_DIR/dc.out'"
setup=$out
dc registry set-upstreams team mirror ecr1 hub
dc setup-client team
like "$out" "registry-mirrors.*$base" "a registry with a Docker Hub upstream gets the mirror snippet"
like "$out" 'only with server.mirror_registry = "team"' "and says it needs mirror_registry"
dc registry create helmy --type helm --upstream charts-up
dc setup-client helmy
like "$out" "^helm repo add helmy $base/helm/helmy$" "helm: repo add"
like "$out" "--data-binary @CHART-VERSION.tgz $base/helm/helmy/api/charts" "helm: upload with curl"
refused "setup-client of an unknown name: exit 1" "registry 'ghost' is not defined" setup-client ghost
mkdir -p "$T_DIR/authconf"
cat >"$T_DIR/authconf/depot.conf" <<EOC
server = { listen = [ "0.0.0.0:$port" ]; pidfile = "pid"; data_dir = "data"; };
auth = { users_file = "htpasswd"; token_key_file = "token.key"; };
registries = ( { name = "secure"; type = "docker"; } );
EOC
out=$("$DEPOTCTL" -c "$T_DIR/authconf/depot.conf" setup-client secure 2>&1)
host=$(hostname)
like "$out" "^docker login $host:$port\$" "with an auth group: docker login, to this host's name"
like "$out" "^podman login --tls-verify=false $host:$port\$" "with an auth group: podman login"
like "$out" "^skopeo login --tls-verify=false $host:$port\$" "with an auth group: skopeo login"

# sk LINE: run a skopeo line with its files in the test directory.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json eval "timeout 60 $1"
}
pushed=0
if command -v skopeo >/dev/null && python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null; then
	mkdir -p "$T_DIR/tmp"
	: >"$T_DIR/registries.conf"
	echo '{"auths":{}}' >"$T_DIR/auth.json"
	python3 "$DEPOT_SRCDIR/tests/tools/mkimage.py" --tag v1 --seed ctl --layers 1 \
	    "$T_DIR/img" >/dev/null || bail "mkimage.py failed"
	copy=$(printf '%s\n' "$setup" | grep '^skopeo copy ' |
	    sed -e "s#docker://docker.io/library/IMAGE:TAG#oci:$T_DIR/img:v1#" \
	    -e 's/IMAGE/app/g; s/TAG/v1/g; s/^skopeo /skopeo --insecure-policy /')
	list=$(printf '%s\n' "$setup" | grep '^skopeo list-tags ' | sed -e 's/IMAGE/app/g')
	if sk "$copy" >"$T_DIR/push.log" 2>&1; then
		ok "setup-client's skopeo copy line pushes into the registry"
		pushed=1
	elif [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
	    "$base/v2/fresh/app/manifests/v1")" = 405 ]; then
		skip "push answers 405 UNSUPPORTED in this build: setup-client's push line not run"
	else
		not_ok "setup-client's skopeo copy line pushes into the registry"
		sed 's/^/#   /' "$T_DIR/push.log" | tail -n 5
	fi
	if [ $pushed = 1 ]; then
		out=$(sk "$list" 2>&1)
		is "$(printf '%s' "$out" | jq -r '.Tags | join(",")' 2>&1)" v1 \
		    "setup-client's skopeo list-tags line lists the pushed tag"
	else
		out=$(sk "$list" 2>&1)
		like "$out" "NAME_UNKNOWN|name unknown|repository name not known" \
		    "setup-client's skopeo list-tags line reaches depot"
	fi
else
	skip "skopeo (or python3 3.9) is not installed: setup-client's skopeo lines not run"
fi
curl_line=$(printf '%s\n' "$setup" | grep '^curl ' | sed -e 's/IMAGE/app/g')
out=$(eval "$curl_line -s" 2>&1)
if [ $pushed = 1 ]; then
	is "$(printf '%s' "$out" | jq -r '.tags | join(",")' 2>&1)" v1 "setup-client's curl line lists the tag"
else
	like "$out" '"code":"NAME_UNKNOWN"' "setup-client's curl line reaches depot"
fi

# --- registry delete --purge
if [ $pushed = 1 ]; then
	is "$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/fresh/app/tags/list")" 200 \
	    "before the purge the registry has its tag"
	dc registry delete fresh --purge
	is "$rc" 0 "registry delete --purge exits 0"
	like "$out" "purged 1 repository of 'fresh'" "it says what it purged"
	check "the registry's file is gone" test ! -e "$dropin/registry-fresh.conf"
	dc reload
	is "$(code_of /v2/fresh/app/tags/list)" NAME_UNKNOWN "after reload the registry is gone"
	dc registry create fresh --type docker
	dc reload
	is "$(code_of /v2/fresh/app/manifests/latest)" MANIFEST_UNKNOWN "the registry is back after re-creating it"
	is "$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/fresh/app/tags/list")" 404 \
	    "its purged tags are not: tags/list answers 404"
	is "$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/fresh/app/manifests/v1")" 404 \
	    "and the purged tag's manifest is unknown"
else
	skip "push is not available: the purge of pushed tags cannot be checked"
	dc registry delete fresh --purge
	is "$rc" 0 "registry delete --purge of an empty registry exits 0"
fi
dc registry delete par1
is "$rc" 0 "registry delete without --purge exits 0"
check "its file is gone" test ! -e "$dropin/registry-par1.conf"
refused "deleting it again: exit 1" "registry 'par1' is not defined" registry delete par1
check "depotd -t accepts what is left" conf_ok
dc reload
is "$rc" 0 "depotd accepts what is left"
stop_depotd "$master"

# --- the index opened by root as the owner of data_dir
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 755 "$T_DIR"
	chown -R nobody "$data"
	dc registry delete ghost --purge
	is "$rc" 0 "a purge with no depotd running (index opened as the master)"
	[ "$rc" = 0 ] || echo "#   $err"
	is "$(find "$data" ! -user nobody | head -n 3)" "" \
	    "run as root, it leaves only files owned by data_dir's owner"
else
	skip "not root: the switch to data_dir's owner needs root"
	skip "not root"
fi
