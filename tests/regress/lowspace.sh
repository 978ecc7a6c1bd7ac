#!/bin/sh
# lowspace.sh: the low-space guard (min_free_bytes). With a threshold above
# the free space of the data directory (set by a reload): blob uploads
# (POST, PATCH of a session opened before, PUT), manifest pushes and Helm
# chart uploads answer 507 with the OCI error JSON (DENIED) or Helm's
# error, a skopeo push fails, /metrics says depot_low_space 1, and pulls
# through an upstream still stream whole but cache nothing (the next GET
# asks the upstream again; the blob is noted for removal). Lowered by another reload, everything resumes:
# the session opened before completes, pushes work, pulls are cached.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "${DEPOT_SRCDIR:-.}/tests/regress/upstream_lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

for cmd in curl jq skopeo docker-registry; do
	command -v "$cmd" >/dev/null ||
		skip_all "$cmd is not installed (scripts/deps test installs it)"
done

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

hex() {
	echo "${1#sha256:}"
}

metric() {
	curl -s "$base/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# metric_is NAME VALUE: /metrics has that sample with that value.
metric_is() {
	[ "$(metric "$1")" = "$2" ]
}

# post_status: the status of a new upload session's POST.
post_status() {
	http_status "$base/v2/docker-local/probe/blobs/uploads/" -X POST
}

# post_is STATUS: a POST of an upload answers STATUS.
post_is() {
	[ "$(post_status)" = "$1" ]
}

# conf MIN_FREE: write the configuration with that min_free_bytes.
conf() {
	cat >"$T_DIR/depot.conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  min_free_bytes = $1;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
upstreams = (
  { key = "up"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pa";
    tag_ttl = 3600; timeout = 10; }
);
registries = (
  { name = "docker-local"; type = "docker"; },
  { name = "charts"; type = "helm"; },
  { name = "proxy"; type = "docker"; upstreams = [ "up" ]; }
);
EOC
}

I=$T_DIR/img
python3 "$MKIMAGE" "$I-up" --tag 1 --seed lowspace-up --layers 1 \
    --layer-size 200000 >"$I-up.digest" &&
python3 "$MKIMAGE" "$I-push" --tag 1 --seed lowspace-push --layers 1 \
    >"$I-push.digest" || bail "mkimage.py failed"
d_up=$(cat "$I-up.digest")
layer=$(jq -r '.layers[0].digest' "$I-up/blobs/sha256/$(hex "$d_up")")

start_upstream a plain || bail "upstream a did not start"
pa=$UPSTREAM_PORT
upstream_push a "oci:$I-up:1" "img:1" >"$T_DIR/push-up.out" 2>&1 ||
	bail "pushing to the upstream failed"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
data="$T_DIR/data-$port"
conf 0
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
dlog="$T_DIR/depotd-$port.log"

# A session opened while there is room, continued while there is none.
curl -s -D "$T_DIR/post.h" -o /dev/null -X POST \
    "$base/v2/docker-local/app/blobs/uploads/"
loc=$(tr -d '\r' <"$T_DIR/post.h" | awk -F': ' 'tolower($1) == "location" { print $2 }')
like "$loc" "/v2/docker-local/app/blobs/uploads/" "an upload session is open"
case $loc in http*) ;; *) loc="$base$loc" ;; esac

# --- low: a threshold no file system meets (1 PiB)
conf 1125899906842624L
kill -HUP "$DEPOTD_PID"
check "after a reload with min_free_bytes above the free space, a POST answers 507" \
    t_wait_for post_is 507
curl -s -X POST "$base/v2/docker-local/app/blobs/uploads/" -o "$T_DIR/507.json" \
    -D "$T_DIR/507.h"
is "$(jq -r '.errors[0].code' "$T_DIR/507.json")" DENIED \
    "the 507 carries the OCI error JSON with DENIED"
like "$(jq -r '.errors[0].message' "$T_DIR/507.json")" "insufficient storage" \
    "... and says why"
like "$(tr -d '\r' <"$T_DIR/507.h" | grep -i '^content-type')" "application/json" \
    "... as JSON"
is "$(printf 'abc' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    --data-binary @- -H 'Content-Type: application/octet-stream' "$loc")" 507 \
    "a PATCH of the open session answers 507"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary '{"schemaVersion":2}' "$base/v2/docker-local/app/manifests/1")" 507 \
    "a manifest PUT answers 507"
printf 'not a chart' >"$T_DIR/chart.tgz"
is "$(curl -s -o "$T_DIR/helm.json" -w '%{http_code}' \
    --data-binary "@$T_DIR/chart.tgz" "$base/helm/charts/api/charts")" 507 \
    "a Helm chart upload answers 507"
like "$(jq -r '.error' "$T_DIR/helm.json")" "insufficient storage" \
    "... with Helm's error"
if sk copy --dest-tls-verify=false "oci:$I-push:1" \
    "docker://$reg/docker-local/push:1" >"$T_DIR/push-low.out" 2>&1; then
	not_ok "a skopeo push fails"
else
	ok "a skopeo push fails"
fi
check "/metrics says depot_low_space 1" t_wait_for metric_is depot_low_space 1
check "the master logs it" t_wait_grep "master: low on space" "$dlog"

# Pulls still stream through, whole, and are not cached.
check "a pull through the upstream streams whole" \
    sk copy --src-tls-verify=false "docker://$reg/proxy/img:1" "oci:$T_DIR/out-low:1"
is "$(curl -s "$base/v2/proxy/img/blobs/$layer" | sha256sum | cut -d' ' -f1)" \
    "$(hex "$layer")" "a GET of its layer streams the right bytes"
check "the fill says it cached nothing" \
    t_wait_grep "served, not cached: low on space" "$dlog"
check "its blob is noted for the next eviction run to remove" \
    test -f "$data/tmp/sha256-$(hex "$layer").uncached"
n_low=$(upstream_count a GET "^/v2/img/blobs/$layer")
cmp_ge() {
	[ "$1" -ge "$2" ]
}
check "each GET of the layer went to the upstream (not cached: $n_low GETs)" \
    cmp_ge "$n_low" 2

# --- space again: a reload with a threshold that is met
conf 1
kill -HUP "$DEPOTD_PID"
check "after a reload with min_free_bytes met, a POST answers 202" \
    t_wait_for post_is 202
check "/metrics says depot_low_space 0" t_wait_for metric_is depot_low_space 0
check "the master logs it" t_wait_grep "master: space is free again" "$dlog"
blob=$(printf 'resumed' | sha256sum | cut -d' ' -f1)
case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
is "$(printf 'resumed' | curl -s -o /dev/null -w '%{http_code}' -X PUT \
    --data-binary @- -H 'Content-Type: application/octet-stream' \
    "$loc$sep""digest=sha256:$blob")" 201 \
    "the session opened before completes"
check "a skopeo push works again" \
    sk copy --dest-tls-verify=false "oci:$I-push:1" "docker://$reg/docker-local/push:1"
check "a pull through the upstream works" \
    sk copy --src-tls-verify=false "docker://$reg/proxy/img:1" "oci:$T_DIR/out-ok:1"
n1=$(upstream_count a GET "^/v2/img/blobs/$layer")
curl -s -o /dev/null "$base/v2/proxy/img/blobs/$layer"
n2=$(upstream_count a GET "^/v2/img/blobs/$layer")
is "$n2" "$n1" "the layer is cached again: its next GET stays here"

stop_depotd "$DEPOTD_PID"
is "$?" 0 "depotd stops cleanly"
