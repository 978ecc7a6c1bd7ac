#!/bin/sh
# cache_limits.sh: max_cache_bytes of an upstream (a real docker-registry
# behind depotd). Three images pulled through, one after the other, take
# the upstream over its limit: the least recently pulled image is evicted
# (its files, its links and its cached tag), a layer it shares with an
# image pushed here stays and the pushed image still pulls whole, the
# other two are untouched, last_pull shows in /api/v1, the evictions and
# the cached bytes show in /metrics; the evicted image pulls again from
# the upstream, and then the image pulled least recently since is the one
# evicted.
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

# stored DIGEST: whether depot holds the blob file.
stored() {
	local h
	h=$(hex "$1")
	test -f "$data/blobs/sha256/$(echo "$h" | cut -c1-2)/$h"
}

# gone DIGEST: the blob file is not (or no longer) stored.
gone() {
	! stored "$1"
}

# size_of LAYOUT: bytes of every blob of an image layout (manifest,
# config, layers): what caching the image takes.
size_of() {
	find "$1/blobs" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }'
}

# layers LAYOUT DIGEST: the layer digests of the layout's manifest.
layers() {
	jq -r '.layers[].digest' "$1/blobs/sha256/$(hex "$2")"
}

# config LAYOUT DIGEST: the config digest.
config() {
	jq -r '.config.digest' "$1/blobs/sha256/$(hex "$2")"
}

# all_stored NAME: every blob of image NAME (manifest, config, layers).
all_stored() {
	local d
	for d in $(eval echo "\$d_$1") $(config "$I-$1" "$(eval echo "\$d_$1")") \
	    $(layers "$I-$1" "$(eval echo "\$d_$1")"); do
		stored "$d" || return 1
	done
}

# metric NAME: the value of one sample of /metrics (empty when absent).
metric() {
	curl -s "$base/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# has_metric NAME: /metrics has that sample.
has_metric() {
	[ -n "$(metric "$1")" ]
}

# later_than SECONDS: the clock is past that second.
later_than() {
	[ "$(date +%s)" -gt "$1" ]
}

# next_second: wait until the clock shows a later second than now, so
# that the pulls before and after are recorded at different times.
next_second() {
	t_wait_for -t 10 later_than "$(date +%s)"
}

# --- images: img1 shares its first layer with "local" (pushed to depot);
# img1's layers are smaller than img2's and img3's, so that img2 + img3
# is the limit: two images fit, three do not, and only the whole of img1
# (or of img2, later) brings the cache back under it.
I=$T_DIR/img
python3 "$MKIMAGE" "$I-img1" --tag 1 --seed c1 --layers 2 --layer-size 60000 \
    --shared-layers 1 --shared-seed shared >"$I-img1.digest" &&
python3 "$MKIMAGE" "$I-local" --tag 1 --seed loc --layers 2 --layer-size 60000 \
    --shared-layers 1 --shared-seed shared >"$I-local.digest" &&
python3 "$MKIMAGE" "$I-img2" --tag 1 --seed c2 --layers 2 --layer-size 65536 \
    >"$I-img2.digest" &&
python3 "$MKIMAGE" "$I-img3" --tag 1 --seed c3 --layers 2 --layer-size 65536 \
    >"$I-img3.digest" || bail "mkimage.py failed"
d_img1=$(cat "$I-img1.digest")
d_img2=$(cat "$I-img2.digest")
d_img3=$(cat "$I-img3.digest")
d_local=$(cat "$I-local.digest")
shared=$(layers "$I-img1" "$d_img1" | head -n 1)
own1=$(layers "$I-img1" "$d_img1" | tail -n 1)
[ "$shared" = "$(layers "$I-local" "$d_local" | head -n 1)" ] ||
	bail "img1 and local do not share their first layer"
s1=$(size_of "$I-img1")
s2=$(size_of "$I-img2")
s3=$(size_of "$I-img3")
limit=$((s2 + s3))
[ "$s1" -lt "$s3" ] && [ "$s1" -lt "$s2" ] || bail "img1 is not the smallest image"

start_upstream a plain || bail "upstream a did not start"
pa=$UPSTREAM_PORT
for n in 1 2 3; do
	upstream_push a "oci:$I-img$n:1" "img$n:1" >"$T_DIR/push-$n.out" 2>&1 ||
		bail "pushing img$n to the upstream failed"
done

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
data="$T_DIR/data-$port"
cat >"$T_DIR/depot.conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
upstreams = (
  { key = "up"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pa";
    tag_ttl = 3600; timeout = 10; max_cache_bytes = $limit; }
);
registries = (
  { name = "docker-local"; type = "docker"; },
  { name = "proxy"; type = "docker"; upstreams = [ "up" ]; }
);
EOC
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
dlog="$T_DIR/depotd-$port.log"

# --- a pushed image, and three pulled through, a second or more apart
check "the pushed image goes into docker-local" \
    sk copy --dest-tls-verify=false "oci:$I-local:1" "docker://$reg/docker-local/local:1"
# The first count of the cache (at start) is what fills add to.
check "the cache of up is counted at start" \
    t_wait_for has_metric 'depot_cache_bytes{upstream="up"}'
for n in 1 2 3; do
	[ "$n" = 1 ] || next_second
	check "img$n pulls through the proxy" \
	    sk copy --src-tls-verify=false "docker://$reg/proxy/img$n:1" \
	    "oci:$T_DIR/out-$n:1"
done

# --- the least recently pulled image is evicted
if t_wait_for gone "$own1"; then
	ok "img1's own layer is evicted once img3 took the cache over its limit"
else
	not_ok "img1's own layer is evicted once img3 took the cache over its limit"
fi
check "img1's manifest is evicted too" t_wait_for gone "$d_img1"
check "img1's config is evicted too" gone "$(config "$I-img1" "$d_img1")"
check "the layer img1 shares with a pushed image stays" stored "$shared"
check "img2 is whole" all_stored img2
check "img3 is whole" all_stored img3
is "$(http_status "$base/api/v1/registries/proxy/repositories/img1")" 404 \
    "img1's cached tag is gone"
check "the pushed image still pulls whole" \
    sk copy --src-tls-verify=false "docker://$reg/docker-local/local:1" \
    "oci:$T_DIR/out-local:1"
check "the pushed tag is still there" \
    t_status_is "$base/api/v1/registries/docker-local/repositories/local" 200

# --- the API and /metrics
curl -s "$base/api/v1/registries/proxy/repositories/img3" >"$T_DIR/img3.json"
like "$(jq -r '.tags[0].last_pull' "$T_DIR/img3.json")" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "img3's tag shows its last pull"
curl -s "$base/api/v1/registries/docker-local/repositories/local" >"$T_DIR/local.json"
like "$(jq -r '.tags[0].last_pull' "$T_DIR/local.json")" \
    '^[0-9]{4}-' "the pushed tag shows its last pull"
is "$(metric 'depot_cache_evictions_total{upstream="up"}')" 4 \
    "4 evictions counted (img1's manifest, config and two layers)"
is "$(metric 'depot_cache_evicted_bytes_total{upstream="up"}')" "$s1" \
    "the evicted bytes are img1's"
is "$(metric 'depot_cache_bytes{upstream="up"}')" "$limit" \
    "the cache of up holds img2 and img3"
t_wait_grep "cache: evicted" "$dlog" || true
like "$(grep 'cache: evicted' "$dlog" | tail -n 1)" "evicted [0-9]+ of" \
    "the run logs what it evicted"

# --- the evicted image comes back from the upstream; img2 goes next
before=$(upstream_count a GET "^/v2/img1/manifests/1$")
next_second
check "the evicted img1 pulls again" \
    sk copy --src-tls-verify=false "docker://$reg/proxy/img1:1" "oci:$T_DIR/out-1b:1"
after=$(upstream_count a GET "^/v2/img1/manifests/1$")
if [ "$after" -gt "$before" ]; then
	ok "... from the upstream"
else
	not_ok "... from the upstream ($before, then $after GETs of its manifest)"
fi
own2=$(layers "$I-img2" "$d_img2" | tail -n 1)
first2=$(layers "$I-img2" "$d_img2" | head -n 1)
if t_wait_for gone "$own2" && gone "$first2"; then
	ok "img2, now the least recently pulled, is evicted"
else
	not_ok "img2, now the least recently pulled, is evicted"
fi
check "img3 stays" all_stored img3
check "img1 is cached again" all_stored img1

stop_depotd "$DEPOTD_PID"
is "$?" 0 "depotd stops cleanly"
