#!/bin/sh
# proxy.sh: pull-through caching from real upstream registries (Debian's
# docker-registry on loopback, anonymous, with htpasswd and with a token
# service): upstreams asked in order, upstream keys as read-only
# registries, library/ for Docker Hub sources, tag TTLs and revalidation,
# stale tags and cached digests served with the upstreams stopped, 503
# and 404 errors, Basic and Bearer credentials (tokens reused, never sent
# to a token service on another host), HEAD and Range requests that
# cache nothing, merged tag lists, image indexes, Docker's
# registry-mirrors path layout (curl and podman) and pushed tags hiding
# upstream ones; then, on a second depotd in front of a small upstream of
# the script's own: one upstream request for many concurrent pulls of a
# manifest across workers (and a follower taking over when it fails),
# bad upstream tag lists, and the master's sweep of dead fetches' part
# files.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "${DEPOT_SRCDIR:-.}/tests/regress/upstream_lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

for cmd in curl jq skopeo docker-registry htpasswd openssl; do
	command -v "$cmd" >/dev/null ||
		skip_all "$cmd is not installed (scripts/deps test installs it)"
done
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

# sk ARGS: skopeo with a time limit, no signature policy, and its temp
# files, registries.conf and (absent) credentials in the test directory.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

# hex DIGEST: the digest without its algorithm.
hex() {
	echo "${1#sha256:}"
}

# lblob LAYOUT DIGEST: the file of a blob in an OCI layout.
lblob() {
	echo "$1/blobs/sha256/$(hex "$2")"
}

ACCEPT_M='application/vnd.oci.image.manifest.v1+json'
ACCEPT_I='application/vnd.oci.image.index.v1+json'
ACCEPT_DM='application/vnd.docker.distribution.manifest.v2+json'
ACCEPT_DL='application/vnd.docker.distribution.manifest.list.v2+json'

# mcurl URL [CURL_ARGS]: curl accepting every manifest media type.
mcurl() {
	local url="$1"
	shift
	curl -s -H "Accept: $ACCEPT_M" -H "Accept: $ACCEPT_I" \
	    -H "Accept: $ACCEPT_DM" -H "Accept: $ACCEPT_DL" "$@" "$url"
}

# mdigest PATH REF: digest of the manifest bytes depot serves for
# /v2/PATH/manifests/REF (of empty bytes when the GET fails).
mdigest() {
	echo "sha256:$(mcurl "$base/v2/$1/manifests/$2" -f | sha256sum | cut -d' ' -f1)"
}

# bdigest PATH DIGEST: digest of the blob bytes depot serves.
bdigest() {
	echo "sha256:$(curl -sf "$base/v2/$1/blobs/$2" | sha256sum | cut -d' ' -f1)"
}

# updigest NAME REPO REF: the Docker-Content-Digest the upstream itself
# answers for a manifest (anonymous upstreams only).
updigest() {
	mcurl "http://127.0.0.1:$(upstream_port "$1")/v2/$2/manifests/$3" -I |
	    tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

# status_code URL [CURL_ARGS]: "STATUS CODE", the HTTP status and the first
# OCI error code of the answer (- when none); the body is in $T_DIR/body.
status_code() {
	local url="$1" st code
	shift
	st=$(mcurl "$url" -o "$T_DIR/body" -w '%{http_code}' "$@")
	code=$(jq -r '.errors[0].code // "-"' "$T_DIR/body" 2>/dev/null) || code=-
	echo "$st ${code:--}"
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

# cmp_le A B DESC: pass when integer A <= integer B.
cmp_le() {
	if [ "$1" -le "$2" ] 2>/dev/null; then
		ok "$3"
	else
		not_ok "$3"
		echo "#   got $1, want at most $2"
	fi
}

# stored BLOB_DIGEST: whether depot holds the blob file.
stored() {
	local h
	h=$(hex "$1")
	test -f "$data/blobs/sha256/$(echo "$h" | cut -c1-2)/$h"
}

# --- test images (small layers; the seed makes each distinct), built in
# one python process: each line is NAME and mkimage.py's arguments; the
# layout is $I-NAME and its top digest lands in $I-NAME.digest.
I=$T_DIR/img
cat >"$T_DIR/images" <<EOI
onlyb --tag 1 --seed onlyb --layers 2 --layer-size 131072
viakey --tag 1 --seed viakey --layers 2 --layer-size 65536
samea --tag 1 --seed samea --layers 1 --layer-size 65536
sameb --tag 1 --seed sameb --layers 1 --layer-size 65536
lib --tag 1 --seed libimg --layers 1 --layer-size 65536
team --tag 1 --seed teamapp --layers 1 --layer-size 65536
ttl1 --tag v --seed ttl-old --layers 1 --layer-size 65536
ttl2 --tag v --seed ttl-new --layers 1 --layer-size 65536
h --tag 1 --seed basic --layers 2 --layer-size 65536
t --tag 1 --seed bearer --layers 6 --layer-size 65536
t2 --tag 1 --seed bearer2 --layers 1 --layer-size 65536
head --tag 1 --seed headonly --layers 1 --layer-size 65536
range --tag 1 --seed range --layers 1 --layer-size 262144
tags --tag t --seed tags --layers 1 --layer-size 65536
t0 --tag t0 --seed tags-local --layers 1 --layer-size 65536
idx --tag 1 --seed index --layers 1 --layer-size 65536 --platforms linux/amd64,linux/arm64
mirror --tag 1 --seed mirror --layers 1 --layer-size 65536
sh1 --tag 1 --seed shadow-up --layers 1 --layer-size 65536
sh2 --tag 1 --seed shadow-local --layers 1 --layer-size 65536
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
d_onlyb=$(dg onlyb)
d_viakey=$(dg viakey)
d_samea=$(dg samea)
d_sameb=$(dg sameb)
d_lib=$(dg lib)
d_team=$(dg team)
d_ttl1=$(dg ttl1)
d_ttl2=$(dg ttl2)
d_h=$(dg h)
d_t=$(dg t)
d_t2=$(dg t2)
d_head=$(dg head)
d_range=$(dg range)
d_tags=$(dg tags)
d_t0=$(dg t0)
d_idx=$(dg idx)
d_mirror=$(dg mirror)
d_sh1=$(dg sh1)
d_sh2=$(dg sh2)

# --- upstreams: a and b anonymous, h with htpasswd, t with a token
# service on its own host name, t2 with a token service that refuses
# anonymous clients and is announced under another host name (localhost).
start_upstream a plain || bail "upstream a did not start"
pa=$UPSTREAM_PORT
start_upstream b plain || bail "upstream b did not start"
pb=$UPSTREAM_PORT
start_upstream h htpasswd || bail "upstream h did not start"
ph=$UPSTREAM_PORT
start_upstream t token || bail "upstream t did not start"
pt=$UPSTREAM_PORT
tt=$TOKEN_PORT
UPSTREAM_REALM_HOST=localhost UPSTREAM_TOKEN_ARGS=--no-anonymous \
    start_upstream t2 token || bail "upstream t2 did not start"
pt2=$UPSTREAM_PORT
tt2=$TOKEN_PORT

# Pushes run in parallel; each job's output is in $T_DIR/push-N.out.
pushes=""
n=0
while read -r up src tag dest; do
	n=$((n + 1))
	upstream_push "$up" "oci:$I-$src:$tag" "$dest" </dev/null >"$T_DIR/push-$n.out" 2>&1 &
	pushes="$pushes $!:$n:$up/$dest"
done <<EOP
b onlyb 1 only-b:1
b viakey 1 viakey:1
a samea 1 same:1
b sameb 1 same:1
a lib 1 library/hubimg:1
a team 1 team/app:1
a ttl1 v ttlimg:v
h h 1 himg:1
t t 1 timg:1
t2 t2 1 t2img:1
b head 1 headimg:1
b range 1 rangeimg:1
a tags t tagsimg:t1
a tags t tagsimg:t2
b idx 1 idximg:1
a mirror 1 library/mirrorimg:1
a sh1 1 shadow:1
EOP
for p in $pushes; do
	wait "${p%%:*}" || {
		n=${p#*:}
		tail -n 5 "$T_DIR/push-${n%%:*}.out" | sed 's/^/# /'
		bail "pushing to upstream ${n#*:} failed"
	}
done

# --- depotd: "proxy" pulls through up-a then up-b; more upstream keys
# for TTLs, Docker Hub naming and credentials.
printf '%s' "$UPSTREAM_PASSWORD" >"$T_DIR/good.pass"
printf '%s' "not-the-password" >"$T_DIR/bad.pass"
chmod 600 "$T_DIR/good.pass" "$T_DIR/bad.pass"
port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
data="$T_DIR/data-$port"
userpass() {
	echo "auth = { type = \"userpass\"; username = \"$UPSTREAM_USER\"; password_file = \"$1\"; };"
}
cat >"$T_DIR/depot.conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  request_timeout = 30;
  mirror_registry = "proxy";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
upstreams = (
  { key = "up-a"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pa";
    auth = { type = "anonymous"; }; tag_ttl = 3600; timeout = 10; },
  { key = "up-b"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pb";
    tag_ttl = 3600; timeout = 10; },
  { key = "up-a1"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pa";
    tag_ttl = 1; timeout = 10; },
  { key = "hub"; type = "docker"; source = "dockerhub"; url = "http://127.0.0.1:$pa";
    timeout = 10; },
  { key = "up-h"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$ph";
    $(userpass "$T_DIR/good.pass") timeout = 10; },
  { key = "up-hbad"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$ph";
    $(userpass "$T_DIR/bad.pass") timeout = 10; },
  { key = "up-t"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pt";
    $(userpass "$T_DIR/good.pass") token_realms = [ "http://127.0.0.1:$tt" ];
    timeout = 10; },
  { key = "up-tn"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pt";
    $(userpass "$T_DIR/good.pass") timeout = 10; },
  { key = "up-t2"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pt2";
    $(userpass "$T_DIR/good.pass") timeout = 10; },
  { key = "up-t2r"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pt2";
    $(userpass "$T_DIR/good.pass") token_realms = [ "http://localhost:$tt2/" ];
    timeout = 10; }
);
registries = (
  { name = "proxy"; type = "docker"; upstreams = [ "up-a", "up-b" ]; }
);
EOC
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
dlog="$T_DIR/depotd-$port.log"

# --- 1: ordered fallthrough: only up-b has the image
is "$(updigest b only-b 1)" "$d_onlyb" "upstream b serves only-b:1 with its digest"
is "$(status_code "$base/v2/proxy/only-b/manifests/1" -I)" "200 -" \
    "1: HEAD of only-b:1 through proxy answers 200"
check "1: skopeo pulls only-b:1 through proxy (falls through to up-b)" \
    sk copy --src-tls-verify=false "docker://$reg/proxy/only-b:1" "oci:$T_DIR/out-onlyb:1"
same_tree "$I-onlyb/blobs" "$T_DIR/out-onlyb/blobs" "1: every blob pulled through is byte-identical"
is "$(mdigest proxy/only-b 1)" "$d_onlyb" "1: manifest digest through proxy equals the upstream's"
ob_layer=$(jq -r '.layers[0].digest' "$(lblob "$I-onlyb" "$d_onlyb")")
is "$(status_code "$base/v2/up-a/only-b/blobs/$ob_layer")" "404 BLOB_UNKNOWN" \
    "1: a stored blob is not served through an upstream that does not have it"
is "$(status_code "$base/v2/up-b/only-b/blobs/$ob_layer" | cut -d' ' -f1)" 200 \
    "1: ... but is through one that has it (confirmed with a HEAD)"
is "$(mcurl "$base/v2/proxy/only-b/manifests/1" -I | tr -d '\r' |
    awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')" "$d_onlyb" \
    "1: Docker-Content-Digest is the upstream's digest"

# --- 2: the first upstream that has the tag wins
is "$(updigest b same 1)" "$d_sameb" "2: upstream b has another same:1"
is "$(mdigest proxy/same 1)" "$d_samea" "2: same:1 in up-a and up-b: up-a's manifest is served"

# --- 3: an upstream key is a read-only registry
check "3: skopeo pulls viakey:1 through the upstream key up-b" \
    sk copy --src-tls-verify=false "docker://$reg/up-b/viakey:1" "oci:$T_DIR/out-viakey:1"
same_tree "$I-viakey/blobs" "$T_DIR/out-viakey/blobs" "3: every blob pulled through up-b is byte-identical"
is "$(upstream_count b GET '^/v2/viakey/manifests/1$')" 1 "3: upstream b was asked for viakey:1 once"
pushes0=$(($(upstream_count b PUT '^/v2/') + $(upstream_count b POST '^/v2/') + $(upstream_count b PATCH '^/v2/')))
is "$(status_code "$base/v2/up-b/viakey/manifests/x" -X PUT \
    -H "Content-Type: $ACCEPT_M" --data-binary "@$(lblob "$I-viakey" "$d_viakey")")" \
    "405 UNSUPPORTED" "3: PUT of a manifest into an upstream key: 405 UNSUPPORTED"
is "$(status_code "$base/v2/up-b/viakey/blobs/uploads/" -X POST)" "405 UNSUPPORTED" \
    "3: POST of an upload into an upstream key: 405 UNSUPPORTED"
is "$(($(upstream_count b PUT '^/v2/') + $(upstream_count b POST '^/v2/') + $(upstream_count b PATCH '^/v2/')))" \
    "$pushes0" "3: nothing was pushed on to upstream b"

# --- 4: a dockerhub source puts library/ before one-component names
is "$(mdigest hub/hubimg 1)" "$d_lib" "4: /v2/hub/hubimg:1 serves library/hubimg:1 of the upstream"
is "$(upstream_count a GET '^/v2/library/hubimg/manifests/1$')" 1 \
    "4: the upstream was asked for library/hubimg"
is "$(mdigest hub/team/app 1)" "$d_team" "4: a two-component name is served unchanged (team/app)"
is "$(upstream_count a GET '^/v2/library/team/')" 0 "4: library/ is not put before team/app"

# --- 5: tag TTL: up-a trusts a cached tag for an hour, up-a1 for a second
is "$(mdigest up-a/ttlimg v)" "$d_ttl1" "5: ttlimg:v through up-a (tag_ttl 3600)"
is "$(mdigest up-a1/ttlimg v)" "$d_ttl1" "5: ttlimg:v through up-a1 (tag_ttl 1)"
upstream_push a "oci:$I-ttl2:v" ttlimg:v >"$T_DIR/push-ttl2.out" 2>&1 ||
	bail "pushing the new ttlimg:v failed"
is "$(updigest a ttlimg v)" "$d_ttl2" "5: the upstream now has a new ttlimg:v"
is "$(mdigest up-a/ttlimg v)" "$d_ttl1" "5: through up-a the cached (old) digest is still served"
heads=$(upstream_count a HEAD '^/v2/ttlimg/manifests/v$')
sleep 2
is "$(mdigest up-a1/ttlimg v)" "$d_ttl2" "5: through up-a1, past its TTL, the new digest is served"
cmp_le "$((heads + 1))" "$(upstream_count a HEAD '^/v2/ttlimg/manifests/v$')" \
    "5: depot revalidated the tag with a HEAD to the upstream"

# --- 8 (upstreams up): missing everywhere is 404
is "$(status_code "$base/v2/proxy/nosuch/manifests/1")" "404 MANIFEST_UNKNOWN" \
    "8: a manifest no upstream has: 404 MANIFEST_UNKNOWN"
cmp_le 1 "$(upstream_count b GET '^/v2/nosuch/manifests/1$')" \
    "8: the last upstream was asked before answering 404"

# --- 9: Basic credentials
check "9: skopeo pulls himg:1 through an htpasswd upstream (userpass)" \
    sk copy --src-tls-verify=false "docker://$reg/up-h/himg:1" "oci:$T_DIR/out-h:1"
same_tree "$I-h/blobs" "$T_DIR/out-h/blobs" "9: every blob byte-identical"
is "$(mdigest up-h/himg 1)" "$d_h" "9: the manifest digest is the upstream's"
is "$(status_code "$base/v2/up-hbad/himg/manifests/1")" "503 UNAVAILABLE" \
    "9: a wrong password: 503 UNAVAILABLE"
like "$(jq -c '.errors[0]' "$T_DIR/body" 2>&1)" '[Cc]redential' \
    "9: the error's detail mentions the credentials"

# --- 10: Bearer tokens
tok0=$(grep -c . "$T_DIR/token-t.log")
req0=$(($(upstream_count t GET '^/v2/') + $(upstream_count t HEAD '^/v2/')))
check "10: skopeo pulls timg:1 (7 blobs) through a token upstream (userpass)" \
    sk copy --src-tls-verify=false "docker://$reg/up-t/timg:1" "oci:$T_DIR/out-t:1"
same_tree "$I-t/blobs" "$T_DIR/out-t/blobs" "10: every blob byte-identical"
is "$(mdigest up-t/timg 1)" "$d_t" "10: the manifest digest is the upstream's"
tok=$(($(grep -c . "$T_DIR/token-t.log") - tok0))
req=$(($(upstream_count t GET '^/v2/') + $(upstream_count t HEAD '^/v2/') - req0))
echo "# 10: $tok token requests for $req upstream requests"
cmp_le 1 "$(sed -n "$((tok0 + 1)),\$p" "$T_DIR/token-t.log" | grep -c ' user=ci .*status=200')" \
    "10: depot got a token with its credentials"
cmp_le "$((tok * 3))" "$req" "10: tokens are reused (far fewer token requests than upstream requests)"

# The same token service without token_realms: on the upstream's host
# but another port, so another origin: not trusted with the password.
credt=$(grep -c ' user=ci ' "$T_DIR/token-t.log")
status_code "$base/v2/up-tn/timg/manifests/1" >/dev/null
is "$(grep -c ' user=ci ' "$T_DIR/token-t.log")" "$credt" \
    "10: a realm on the upstream's host but another port gets no credentials"
like "$(grep 'up-tn' "$dlog" | grep -i 'not trusted')" . \
    "10: ... and the log says the realm is not trusted"

cred0=$(grep -c ' user=ci ' "$T_DIR/token-t2.log")
is "$(status_code "$base/v2/up-t2/t2img/manifests/1")" "503 UNAVAILABLE" \
    "10: realm on another host name (not in token_realms), anonymous refused: 503 UNAVAILABLE"
is "$(grep -c ' user=ci ' "$T_DIR/token-t2.log")" "$cred0" \
    "10: the credentials were not sent to that token service"
is "$(mdigest up-t2r/t2img 1)" "$d_t2" "10: the same realm listed in token_realms: served"
cmp_le "$((cred0 + 1))" "$(grep -c ' user=ci .*status=200' "$T_DIR/token-t2.log")" \
    "10: with token_realms the credentials went to the token service"

# --- 11: HEAD of uncached content asks the upstream and caches nothing
h_layer=$(jq -r '.layers[0].digest' "$(lblob "$I-head" "$d_head")")
h_size=$(jq -r '.layers[0].size' "$(lblob "$I-head" "$d_head")")
mcurl "$base/v2/proxy/headimg/manifests/1" -I -o /dev/null -D "$T_DIR/h1" -w '%{http_code}' >"$T_DIR/h1.st"
is "$(cat "$T_DIR/h1.st")" 200 "11: HEAD of an uncached manifest: 200"
like "$(tr -d '\r' <"$T_DIR/h1")" "^[Dd]ocker-[Cc]ontent-[Dd]igest: $d_head\$" \
    "11: with the upstream's Docker-Content-Digest"
curl -s -I -o /dev/null -D "$T_DIR/h2" -w '%{http_code}' \
    "$base/v2/proxy/headimg/blobs/$h_layer" >"$T_DIR/h2.st"
is "$(cat "$T_DIR/h2.st")" 200 "11: HEAD of an uncached blob: 200"
like "$(tr -d '\r' <"$T_DIR/h2")" "^[Dd]ocker-[Cc]ontent-[Dd]igest: $h_layer\$" \
    "11: with its Docker-Content-Digest"
like "$(tr -d '\r' <"$T_DIR/h2")" "^[Cc]ontent-[Ll]ength: $h_size\$" "11: and its Content-Length"
cmp_le 1 "$(upstream_count b HEAD "^/v2/headimg/blobs/$h_layer\$")" "11: the upstream was asked with HEAD"
is "$(upstream_count b GET '^/v2/headimg/')" 0 "11: the upstream was not asked with GET"
if stored "$h_layer"; then
	not_ok "11: the blob was not stored"
else
	ok "11: the blob was not stored"
fi

# --- 12: Range GET of an uncached blob
r_layer=$(jq -r '.layers[0].digest' "$(lblob "$I-range" "$d_range")")
r_file=$(lblob "$I-range" "$r_layer")
st=$(curl -s -o "$T_DIR/range.out" -w '%{http_code}' -r 1000-5095 "$base/v2/proxy/rangeimg/blobs/$r_layer")
is "$st" 206 "12: Range GET of an uncached blob: 206"
tail -c +1001 "$r_file" | head -c 4096 >"$T_DIR/range.want"
check "12: exactly the 4096 bytes asked for" cmp "$T_DIR/range.want" "$T_DIR/range.out"

# --- 13: tags/list merges local and upstream tags
check "13: push a local tag t0 into proxy/tagsimg" \
    sk copy --dest-tls-verify=false "oci:$I-t0:t0" "docker://$reg/proxy/tagsimg:t0"
is "$(curl -s "$base/v2/proxy/tagsimg/tags/list" | jq -r '.tags | join(",")' 2>&1)" "t0,t1,t2" \
    "13: tags/list is t0,t1,t2"
is "$(mdigest proxy/tagsimg t0)" "$d_t0" "13: the local tag t0 is served"
is "$(mdigest proxy/tagsimg t2)" "$d_tags" "13: the upstream tag t2 is served"

# --- 14: an image index through the proxy
check "14: skopeo copy --all of a 2-platform index through proxy" \
    sk copy --all --src-tls-verify=false "docker://$reg/proxy/idximg:1" "oci:$T_DIR/out-idx:1"
same_tree "$I-idx/blobs" "$T_DIR/out-idx/blobs" "14: the index, both manifests and every blob byte-identical"
idx_platforms=$(jq -r '.manifests[].digest' "$(lblob "$I-idx" "$d_idx")")

# --- 15: Docker's registry-mirrors layout
is "$(mdigest library/mirrorimg 1)" "$d_mirror" "15: /v2/library/mirrorimg/manifests/1 is served through proxy"
is "$(mcurl "$base/v2/library/mirrorimg/manifests/1?ns=docker.io" -f | sha256sum | cut -d' ' -f1)" \
    "$(hex "$d_mirror")" "15: also with containerd's ?ns=docker.io"
podman_skip=""
if ! command -v podman >/dev/null; then
	podman_skip="podman is not installed (scripts/deps test installs it)"
elif [ "$(id -u)" != 0 ]; then
	podman_skip="podman runs as root here (rootless needs subuid setup)"
fi
pm() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/pm-registries.conf \
	    CONTAINERS_CONF=$T_DIR/containers.conf \
	    CONTAINERS_STORAGE_CONF=$T_DIR/storage.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 podman --storage-driver=vfs --root "$T_DIR/root" \
	    --runroot "$T_DIR/runroot" --tmpdir "$T_DIR/libpod" \
	    --cgroup-manager=cgroupfs --events-backend=none "$@"
}
if [ -z "$podman_skip" ]; then
	: >"$T_DIR/containers.conf"
	cat >"$T_DIR/storage.conf" <<EOC
[storage]
driver = "vfs"
graphroot = "$T_DIR/root"
runroot = "$T_DIR/runroot"
EOC
	cat >"$T_DIR/pm-registries.conf" <<EOC
[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "$reg"
insecure = true
EOC
	out=$(pm images 2>&1) ||
		podman_skip="podman cannot run here: $(printf '%s\n' "$out" | tail -n 1)"
fi
if [ -z "$podman_skip" ]; then
	check "15: podman pulls docker.io/library/mirrorimg:1 through the mirror" \
	    pm pull -q docker.io/library/mirrorimg:1
	is "$(pm image inspect --format '{{.Digest}}' docker.io/library/mirrorimg:1 2>&1)" "$d_mirror" \
	    "15: podman's image has the upstream's digest"
	like "$(cat "$T_DIR/access-$port.log")" '/v2/library/mirrorimg/manifests/1' \
	    "15: podman's requests went to depot"
else
	skip "15: podman pull through the mirror: $podman_skip"
fi

# --- 16: a pushed tag hides the upstream's
is "$(mdigest proxy/shadow 1)" "$d_sh1" "16: shadow:1 first comes from the upstream"
check "16: push another image to proxy/shadow:1" \
    sk copy --dest-tls-verify=false "oci:$I-sh2:1" "docker://$reg/proxy/shadow:1"
is "$(mdigest proxy/shadow 1)" "$d_sh2" "16: the pushed shadow:1 is served afterwards"

# --- with the upstreams stopped
stop_upstream a
stop_upstream b
is "$(http_status "http://127.0.0.1:$pa/v2/")$(http_status "http://127.0.0.1:$pb/v2/")" 000000 \
    "upstreams a and b are stopped"

# 6: serve stale
stale0=$(grep -c stale "$dlog")
is "$(mdigest up-a1/ttlimg v)" "$d_ttl2" "6: a cached tag past its TTL is served with the upstream stopped"
cmp_le "$((stale0 + 1))" "$(grep -c stale "$dlog")" "6: depotd logs that it served it stale"

# 7: by digest, everything cached is served
is "$(mdigest proxy/only-b "$d_onlyb")" "$d_onlyb" "7: the manifest by digest is served, bytes right"
bad=""
for d in $(jq -r '.config.digest, .layers[].digest' "$(lblob "$I-onlyb" "$d_onlyb")"); do
	[ "$(bdigest proxy/only-b "$d")" = "$d" ] || bad="$bad $d"
done
is "$bad" "" "7: every blob by digest is served, bytes right"
is "$(mdigest proxy/only-b 1)" "$d_onlyb" "7: the tag of a TTL 3600 upstream is still served"

# 8: never cached, every upstream stopped
is "$(status_code "$base/v2/proxy/never/manifests/1")" "503 UNAVAILABLE" \
    "8: never cached, upstreams stopped: 503 UNAVAILABLE"
detail=$(jq -c '.errors[0]' "$T_DIR/body" 2>&1)
case $detail in
*up-a*up-b* | *up-b*up-a*) ok "8: the detail names each upstream" ;;
*) not_ok "8: the detail names each upstream"; echo "#   got: $detail" ;;
esac

# 11: the HEADs cached nothing
is "$(status_code "$base/v2/proxy/headimg/manifests/1" | cut -d' ' -f1)" 503 \
    "11: the manifest only asked with HEAD was not cached (503 now)"
is "$(status_code "$base/v2/proxy/headimg/blobs/$h_layer" | cut -d' ' -f1)" 503 \
    "11: the blob only asked with HEAD was not cached (503 now)"

# 14: the index and its platform manifests are cached
is "$(mdigest proxy/idximg "$d_idx")" "$d_idx" "14: the index by digest is served"
bad=""
for d in $idx_platforms; do
	[ "$(mdigest proxy/idximg "$d")" = "$d" ] || bad="$bad $d"
done
is "$bad" "" "14: each platform manifest by digest is served"
is "$(echo "$idx_platforms" | wc -w)" 2 "14: the index has two platforms"

stop_depotd "$DEPOTD_PID"
is "$?" 0 "depotd stops with status 0"

# --- 17: single flight of manifest pulls across workers, a bad upstream
# tag list, and the master's sweep of part files of dead fetches, on a
# second depotd (default request_timeout) in front of a small upstream
# of our own: it does not answer manifest requests while $fake/hold
# exists (for a minute at most), fails the next manifest
# GET with 503 while $fake/fail exists, serves tag lists verbatim (with
# the Link header in $fake/t/<repo>.link when there is one), logs
# "METHOD PATH STATUS" per request when answered and "METHOD PATH" per
# manifest request when received (fake.log.seen).
fake=$T_DIR/fake
mkdir -p "$fake/m" "$fake/t"
cat >"$T_DIR/fake_registry.py" <<'PY'
import hashlib, http.server, json, os, sys, time
port_file, log, root = sys.argv[1:4]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        with open(log, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, status))

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/v2/":
            return self.answer(200, b"{}")
        if "/manifests/" in path:
            repo, ref = path[4:].split("/manifests/", 1)
            with open(log + ".seen", "a") as f:
                f.write("%s %s\n" % (self.command, self.path))
            t0 = time.time()
            while os.path.exists(os.path.join(root, "hold")) and time.time() < t0 + 60:
                time.sleep(0.05)
            if self.command == "GET":
                try:
                    os.unlink(os.path.join(root, "fail"))
                    return self.answer(503, b'{"errors":[]}')
                except FileNotFoundError:
                    pass
            try:
                with open(os.path.join(root, "m", repo + "_" + ref), "rb") as f:
                    body = f.read()
            except FileNotFoundError:
                return self.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return self.answer(200, body, json.loads(body)["mediaType"],
                [("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())])
        if path.endswith("/tags/list"):
            try:
                extra = []
                try:
                    with open(os.path.join(root, "t", path[4:-10] + ".link")) as f:
                        extra.append(("Link", f.read().strip()))
                except FileNotFoundError:
                    pass
                with open(os.path.join(root, "t", path[4:-10]), "rb") as f:
                    return self.answer(200, f.read(), extra=extra)
            except FileNotFoundError:
                pass
        return self.answer(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

    do_HEAD = do_GET

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
python3 "$T_DIR/fake_registry.py" "$T_DIR/fake.port" "$T_DIR/fake.log" "$fake" \
    >"$T_DIR/fake.out" 2>&1 &
T_PIDS="$T_PIDS $!"
i=0
while [ ! -s "$T_DIR/fake.port" ]; do
	[ "$i" -ge 100 ] && bail "the test upstream did not start"
	sleep 0.1
	i=$((i + 1))
done
pf=$(cat "$T_DIR/fake.port")
: >"$T_DIR/fake.log"

# mdigest2 PATH REF: mdigest on the second depotd.
mdigest2() {
	echo "sha256:$(mcurl "$base2/v2/$1/manifests/$2" -f | sha256sum | cut -d' ' -f1)"
}

# fcount METHOD PATH_REGEX: requests the test upstream received.
fcount() {
	F_METHOD=$1 F_RE=$2 awk '$1 == ENVIRON["F_METHOD"] && $2 ~ ENVIRON["F_RE"] { n++ }
	    END { print n + 0 }' "$T_DIR/fake.log"
}

# seen: manifest requests the test upstream received so far.
seen() {
	cat "$T_DIR/fake.log.seen" 2>/dev/null | wc -l
}

# pulls N PATH REF: N concurrent GETs of a manifest, while the test
# upstream holds its manifest answers until one request has reached it
# and depotd logs that the other N-1 wait for that one (20 s at most,
# within the upstream's timeout);
# prints how many answers had each "STATUS DIGEST" (the digest of the
# body of a 200, else -), as "COUNT STATUS DIGEST;" sorted.
pulls() {
	local n=$1 i=0 pids="" seen0 waiting0
	seen0=$(seen)
	waiting0=$(grep -c 'waiting for the pull of' "$flog")
	: >"$fake/hold"
	while [ "$i" -lt "$n" ]; do
		i=$((i + 1))
		mcurl "$base2/v2/$2/manifests/$3" -o "$T_DIR/sf-$i.body" \
		    -w '%{http_code}' >"$T_DIR/sf-$i.st" &
		pids="$pids $!"
	done
	i=0
	while [ "$(seen)" -le "$seen0" ] ||
	    [ "$(grep -c 'waiting for the pull of' "$flog")" -lt "$((waiting0 + n - 1))" ]; do
		if [ "$i" -ge 200 ]; then
			echo "# pulls: the followers did not all wait" >&2
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	rm -f "$fake/hold"
	for p in $pids; do
		wait "$p"
	done
	i=0
	while [ "$i" -lt "$n" ]; do
		i=$((i + 1))
		st=$(cat "$T_DIR/sf-$i.st")
		if [ "$st" = 200 ]; then
			echo "$st sha256:$(sha256sum <"$T_DIR/sf-$i.body" | cut -d' ' -f1)"
		else
			echo "$st -"
		fi
	done | sort | uniq -c | awk '{ print $1, $2, $3 }' | tr '\n' ';'
}

port2=$(free_port)
base2="http://127.0.0.1:$port2"
data2="$T_DIR/data-$port2"
cat >"$T_DIR/flight.conf" <<EOC
server = {
  listen = [ "127.0.0.1:$port2" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port2.pid";
  data_dir = "$data2";
  upload_expiry = 2;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port2.log"; };
};
upstreams = (
  { key = "up-f"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pf";
    tag_ttl = 2; timeout = 60; }
);
registries = (
  { name = "mix"; type = "docker"; upstreams = [ "up-f" ]; }
);
EOC
start_depotd "$T_DIR/flight.conf" "$port2" || bail "the second depotd did not start"
pid2=$DEPOTD_PID
flog="$T_DIR/depotd-$port2.log"
is "$(echo $(workers_of "$pid2") | wc -w)" 2 "17: the second depotd runs two workers"

# 17a: an uncached tag, 8 clients at once: one upstream GET.
cp "$(lblob "$I-samea" "$d_samea")" "$fake/m/slow_1"
is "$(pulls 8 up-f/slow 1)" "8 200 $d_samea;" \
    "17: 8 concurrent pulls of an uncached tag are all served"
is "$(fcount GET '^/v2/slow/manifests/1$')" 1 \
    "17: ... with one manifest GET upstream"

# 17b: the tag expires and changes upstream: one HEAD, one GET.
cp "$(lblob "$I-sameb" "$d_sameb")" "$fake/m/slow_1"
sleep 3	# past tag_ttl
is "$(pulls 8 up-f/slow 1)" "8 200 $d_sameb;" \
    "17: 8 concurrent pulls of an expired, changed tag get the new manifest"
is "$(fcount HEAD '^/v2/slow/manifests/1$') $(fcount GET '^/v2/slow/manifests/1$')" "1 2" \
    "17: ... with one revalidating HEAD and one more GET upstream"

# 17c: the leader's GET fails: one follower takes over, the rest wait for it.
cp "$(lblob "$I-lib" "$d_lib")" "$fake/m/slow_2"
: >"$fake/fail"
is "$(pulls 6 up-f/slow 2)" "5 200 $d_lib;1 503 -;" \
    "17: the leader's client gets 503, a follower takes over and serves the other 5"
is "$(fcount GET '^/v2/slow/manifests/2$')" 2 \
    "17: ... with two manifest GETs upstream (the failed one and the take-over)"

# --- 18: an upstream tag list that is not one (an entry that is not a
# string, more than 100000 tags) is that upstream failing, said alike.
printf '{"name":"badtags","tags":["a",1]}' >"$fake/t/badtags"
python3 -c 'import json; print(json.dumps({"name": "manytags",
    "tags": ["t%d" % i for i in range(100001)]}))' >"$fake/t/manytags"
is "$(status_code "$base2/v2/up-f/badtags/tags/list")" "503 UNAVAILABLE" \
    "18: a tag list with a non-string entry: 503 UNAVAILABLE"
like "$(jq -r '.errors[0].detail' "$T_DIR/body" 2>&1)" 'up-f: bad tag list: .*not a string' \
    "18: ... saying so"
is "$(status_code "$base2/v2/up-f/manytags/tags/list")" "503 UNAVAILABLE" \
    "18: a tag list of more than 100000 tags: 503 UNAVAILABLE"
like "$(jq -r '.errors[0].detail' "$T_DIR/body" 2>&1)" 'up-f: bad tag list: more than 100000 tags' \
    "18: ... saying so"
like "$(cat "$flog")" 'upstream up-f: bad tag list: an entry of "tags" is not a string' \
    "18: depotd logs why it did not use that upstream's list"
check "18: push a local tag into mix/badtags" \
    sk copy --dest-tls-verify=false "oci:$I-t0:t0" "docker://127.0.0.1:$port2/mix/badtags:t0"
is "$(curl -s "$base2/v2/mix/badtags/tags/list" | jq -r '.tags | join(",")' 2>&1)" "t0" \
    "18: the local tags are still listed without the bad upstream's"

# --- 19: the master removes the part file (and size file) of a fetch
# that died once older than the grace period, never one whose fetch
# holds its lock, however old.
tmpd="$data2/tmp"
stale_part="$tmpd/sha256-$(printf '%064d' 0).part"
live_part="$tmpd/sha256-$(printf '%064d' 0 | tr 0 1).part"
cat >"$T_DIR/hold_part.py" <<'PY'
import fcntl, os, signal, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
os.write(fd, b"partial")
fcntl.fcntl(fd, fcntl.F_OFD_SETLK,
    struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0) + bytes(8))
old = time.time() - 7200
os.utime(sys.argv[1], (old, old))
print("locked", flush=True)
signal.pause()
PY
python3 "$T_DIR/hold_part.py" "$live_part" >"$T_DIR/hold.out" 2>&1 &
hold_pid=$!
T_PIDS="$T_PIDS $hold_pid"
i=0
while ! grep -q locked "$T_DIR/hold.out"; do
	[ "$i" -ge 100 ] && bail "the part file holder did not start"
	sleep 0.1
	i=$((i + 1))
done
printf 7 >"${live_part%.part}.size"
touch -d '2 hours ago' "${live_part%.part}.size"
printf partial >"$stale_part"
printf 7 >"${stale_part%.part}.size"
touch -d '2 hours ago' "$stale_part" "${stale_part%.part}.size"
printf partial >"$tmpd/blob-dead01"
touch -d '2 hours ago' "$tmpd/blob-dead01"
printf partial >"$tmpd/blob-live01"
i=0
while { [ -e "$stale_part" ] || [ -e "$tmpd/blob-dead01" ]; } &&
    [ "$i" -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "19: the old part file of a dead fetch is removed" test ! -e "$stale_part"
check "19: ... with its size file" test ! -e "${stale_part%.part}.size"
check "19: the part file of a live fetch stays, however old" test -e "$live_part"
check "19: ... and its size file" test -e "${live_part%.part}.size"
check "19: an old blob temp file of a writer that died is removed" \
    test ! -e "$tmpd/blob-dead01"
check "19: a fresh blob temp file stays" test -e "$tmpd/blob-live01"
like "$(cat "$flog")" 'removed 1 part file of upstream fetches that ended unfinished' \
    "19: the master logs the sweep"
kill "$hold_pid"

# --- 20: a tag pushed while its stale cached copy is revalidated is not
# overwritten by the revalidation.
cp "$(lblob "$I-sh1" "$d_sh1")" "$fake/m/race_1"
is "$(mdigest2 mix/race 1)" "$d_sh1" "20: mix/race:1 is cached from the upstream"
sleep 3	# past tag_ttl
: >"$fake/hold"
heads=$(grep -c '^HEAD /v2/race/manifests/1$' "$T_DIR/fake.log.seen")
mcurl "$base2/v2/mix/race/manifests/1" -o "$T_DIR/race.body" &
race_pid=$!
i=0
while [ "$(grep -c '^HEAD /v2/race/manifests/1$' "$T_DIR/fake.log.seen")" -le "$heads" ]; do
	[ "$i" -ge 300 ] && bail "the revalidation of mix/race:1 did not reach the upstream"
	sleep 0.1
	i=$((i + 1))
done
check "20: push another image to mix/race:1 while it is revalidated" \
    sk copy --dest-tls-verify=false "oci:$I-sh2:1" "docker://127.0.0.1:$port2/mix/race:1"
rm -f "$fake/hold"
wait "$race_pid"
is "sha256:$(sha256sum <"$T_DIR/race.body" | cut -d' ' -f1)" "$d_sh2" \
    "20: the revalidating pull answers with the pushed manifest"
is "$(mdigest2 mix/race 1)" "$d_sh2" "20: the pushed tag stays"

# --- 21: an upstream tag list whose next page links back to a page
# already fetched ends there, after one request per distinct page.
printf '{"name":"looptags","tags":["a","b"]}' >"$fake/t/looptags"
printf '</v2/looptags/tags/list?last=b&n=1000>; rel="next"' >"$fake/t/looptags.link"
is "$(curl -s "$base2/v2/up-f/looptags/tags/list" | jq -r '.tags | join(",")' 2>&1)" "a,b" \
    "21: a tag list whose next page repeats itself is listed"
is "$(fcount GET '^/v2/looptags/tags/list')" 2 \
    "21: ... with one upstream GET per distinct page"
like "$(cat "$flog")" 'next page tags/list\?last=b&n=1000 was fetched already' \
    "21: depotd logs where the list loops"

stop_depotd "$pid2"
is "$?" 0 "the second depotd stops with status 0"
