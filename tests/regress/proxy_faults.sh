#!/bin/sh
# proxy_faults.sh: pull-through caching when the upstream misbehaves. Two
# docker-registry upstreams, each behind fault_proxy.py, which corrupts,
# cuts, slows down or rate limits what they answer on demand:
#   1 a corrupted blob body fails the client's transfer and is not stored;
#   2 so does a connection reset in the middle of a blob;
#   3 ten concurrent GETs of one uncached 50 MB blob (four workers) cause
#     one upstream GET and all get the right bytes (single flight);
#   4 a fill goes on when the client that started it disconnects;
#  10 a blob pushed to one registry is not served through another whose
#     upstream claims it with a HEAD but does not have it;
#  11 a fill that fails links nothing, so a manifest naming the blob is
#     refused, however many workers followed it;
#  12 an upstream that trickles a blob (4 bytes a second) is given up
#     after speed_window, its clients are cut, not held, and the blob is
#     fetched from the next upstream;
#  13 a fill's commit runs in a thread: the worker answers others while
#     it is held, and its client, the digest verified, gets the whole
#     blob before the commit; a client of another worker waits for it;
#  14 a manifest's bytes are stored in a thread: while a pushed or a
#     pulled manifest's store is held, the worker answers others; then
#     the push answers 201, the pull and its follower get the manifest; a
#     push whose client left, or one pending at shutdown, still completes;
#   5 a 429 with Retry-After sends pulls to the next upstream and keeps
#     depot away from the limited one until then;
#   6 tags no upstream has are remembered (negative_ttl);
#   7 an unreachable upstream first in the list opens its circuit breaker;
#   9 the /metrics series of all this;
#   8 (last) depotd restarted with every upstream down serves its cache.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "$DEPOT_SRCDIR/tests/regress/upstream_lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"
FAULT_PROXY="$DEPOT_SRCDIR/tests/tools/fault_proxy.py"
ACCEPT="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
command -v skopeo >/dev/null || skip_all "skopeo is not installed (scripts/deps test installs it)"
command -v docker-registry >/dev/null ||
	skip_all "docker-registry is not installed (scripts/deps test installs it)"
command -v sha256sum >/dev/null || skip_all "sha256sum is not installed"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

# --- functions

# sha_of [FILE]: the sha256 digest of a file (or stdin), as sha256:HEX.
sha_of() {
	echo "sha256:$(sha256sum "$@" | cut -c1-64)"
}

# blob_file DIGEST: where depot keeps a committed blob.
blob_file() {
	local hex="${1#sha256:}"
	echo "$data/blobs/sha256/$(echo "$hex" | cut -c1-2)/$hex"
}

# px PORT CONTROL: set a fault proxy's mode ("mode?m=slow&rate=10M").
px() {
	curl -fsS --max-time 10 -o /dev/null "http://127.0.0.1:$1/__fault/$2"
}

# start_px NAME TARGET_PORT: a fault proxy in front of an upstream; sets
# PX_PORT and PX_PID. Its request log is $T_DIR/proxy-NAME.log.
start_px() {
	local i=0
	PX_PORT=$(free_port)
	python3 "$FAULT_PROXY" --log "$T_DIR/proxy-$1.log" "$PX_PORT" \
	    "http://127.0.0.1:$2" >"$T_DIR/proxy-$1.out" 2>&1 &
	PX_PID=$!
	T_PIDS="$T_PIDS $PX_PID"
	while ! px "$PX_PORT" state 2>/dev/null; do
		if ! kill -0 "$PX_PID" 2>/dev/null || [ "$i" -ge 600 ]; then
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# px_count NAME METHOD PATH_REGEX: requests in a fault proxy's log.
px_count() {
	[ -f "$T_DIR/proxy-$1.log" ] || { echo 0; return 0; }
	PX_METHOD=$2 PX_RE=$3 awk '
	$1 == ENVIRON["PX_METHOD"] && $2 ~ ENVIRON["PX_RE"] { n++ }
	END { print n + 0 }' "$T_DIR/proxy-$1.log"
}

# px_forwarded NAME: requests a fault proxy got, control requests aside.
px_forwarded() {
	grep -vc '^[A-Z]* /__fault/' "$T_DIR/proxy-$1.log"
}

# up_asked NAME PATH_REGEX: GET and HEAD requests an upstream got.
up_asked() {
	echo $(($(upstream_count "$1" GET "$2") + $(upstream_count "$1" HEAD "$2")))
}

# get_blob PATH OUT: GET $base/v2/PATH into OUT; prints "RC CODE".
get_blob() {
	local code rc
	code=$(curl -s --max-time 60 -o "$2" -w '%{http_code}' "$base/v2/$1")
	rc=$?
	echo "$rc $code"
}

# fetch_fails RESULT: RESULT ("RC CODE") is a failed transfer: curl
# saw the connection close early (18, 56) or the answer was not a 200.
fetch_fails() {
	case $1 in
	18\ * | 56\ *) return 0 ;;
	*\ 200) return 1 ;;
	*) return 0 ;;
	esac
}

# blobs_of MANIFEST: the config and layer digests of an image manifest.
blobs_of() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["config"]["digest"])
for l in m["layers"]:
    print(l["digest"])' "$1"
}

# pull REG REPO TAG WANT_DIGEST: GET the manifest by tag and each of its
# blobs through depot, checking every digest.
pull() {
	local code d
	code=$(curl -s --max-time 60 -H "$ACCEPT" -o "$T_DIR/pull.json" \
	    -w '%{http_code}' "$base/v2/$1/$2/manifests/$3")
	if [ "$code" != 200 ]; then
		echo "manifest $1/$2:$3: HTTP $code"
		head -c 500 "$T_DIR/pull.json"
		return 1
	fi
	d=$(sha_of "$T_DIR/pull.json")
	if [ "$d" != "$4" ]; then
		echo "manifest $1/$2:$3: digest $d, want $4"
		return 1
	fi
	for d in $(blobs_of "$T_DIR/pull.json"); do
		if [ "$(curl -s --max-time 60 "$base/v2/$1/$2/blobs/$d" | sha_of)" != "$d" ]; then
			echo "blob $d of $1/$2:$3: wrong bytes"
			return 1
		fi
	done
	return 0
}

# metric NAME LABEL...: the value of the first series of NAME in
# $T_DIR/metrics that has every LABEL (name="value"); empty if none.
metric() {
	local name="$1"
	shift
	M_NAME=$name M_LABELS="$*" awk '
	BEGIN { k = split(ENVIRON["M_LABELS"], l, " ") }
	index($0, ENVIRON["M_NAME"] "{") == 1 {
		for (i = 1; i <= k; i++)
			if (index($0, l[i]) == 0)
				next
		print $NF
		exit
	}' "$T_DIR/metrics"
}

# metric_sum NAME LABEL...: the sum of every matching series (0 if none).
metric_sum() {
	local name="$1"
	shift
	M_NAME=$name M_LABELS="$*" awk '
	BEGIN { k = split(ENVIRON["M_LABELS"], l, " ") }
	index($0, ENVIRON["M_NAME"] "{") == 1 {
		for (i = 1; i <= k; i++)
			if (index($0, l[i]) == 0)
				next
		s += $NF
	}
	END { print s + 0 }' "$T_DIR/metrics"
}

# push_blob REPO FILE: upload FILE as a blob of REPO (POST, then PUT);
# prints the final HTTP status.
push_blob() {
	local loc d
	d=$(sha_of "$2")
	loc=$(curl -s --max-time 30 -o /dev/null -w '%{redirect_url}' -X POST \
	    "$base/v2/$1/blobs/uploads/")
	[ -n "$loc" ] || loc=$(curl -s --max-time 30 -D - -o /dev/null -X POST \
	    "$base/v2/$1/blobs/uploads/" | tr -d '\r' |
	    sed -n 's/^[Ll]ocation: //p')
	case $loc in
	http*) ;;
	*) loc="$base$loc" ;;
	esac
	case $loc in
	*\?*) loc="$loc&digest=$d" ;;
	*) loc="$loc?digest=$d" ;;
	esac
	curl -s --max-time 30 -o /dev/null -w '%{http_code}' -X PUT \
	    -H "Content-Type: application/octet-stream" --data-binary "@$2" "$loc"
}

# wait_log NAME REGEX: wait (bounded) for a line in a fault proxy's log.
wait_log() {
	local i=0
	while ! grep -Eq "$2" "$T_DIR/proxy-$1.log" 2>/dev/null; do
		[ "$i" -ge 300 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# at_least GOT MIN DESCRIPTION
at_least() {
	if [ -n "$1" ] && [ "$1" -ge "$2" ] 2>/dev/null; then
		ok "$3"
	else
		not_ok "$3"
		echo "#   got: '$1', want at least $2"
	fi
}

# --- images

img="$T_DIR/img"
mkdir -p "$img"
mk() {
	python3 "$MKIMAGE" --format dir "$@"
}
# Two 1 MB layers (checks 1 and 2), a 50 MB layer (3), a 20 MB one (4),
# small images for the rest.
mk --layers 2 --layer-size 1000000 --seed faults-small "$img/small" >/dev/null &&
    mk --layers 1 --layer-size 50000000 --seed faults-big "$img/big" >/dev/null &&
    mk --layers 1 --layer-size 20000000 --seed faults-drop "$img/drop" >/dev/null &&
    d_m1=$(mk --layers 2 --seed faults-m1 "$img/m1") &&
    d_m2=$(mk --layers 2 --seed faults-m2 "$img/m2") &&
    d_cb=$(mk --layers 1 --seed faults-cb "$img/cb") &&
    d_met=$(mk --layers 1 --seed faults-metered "$img/met") &&
    mk --layers 1 --layer-size 1000000 --seed faults-dangle "$img/dangle" >/dev/null &&
    mk --layers 1 --layer-size 1000000 --seed faults-stall "$img/stall" >/dev/null &&
    mk --layers 1 --layer-size 1000000 --seed faults-nolen "$img/nolen" >/dev/null ||
	bail "mkimage.py failed"
# shellcheck disable=SC2046
set -- $(blobs_of "$img/small/manifest.json")
l_corrupt=$2
l_reset=$3
l_big=$(blobs_of "$img/big/manifest.json" | sed -n 2p)
l_drop=$(blobs_of "$img/drop/manifest.json" | sed -n 2p)
c_dangle=$(blobs_of "$img/dangle/manifest.json" | sed -n 1p)
l_dangle=$(blobs_of "$img/dangle/manifest.json" | sed -n 2p)
l_stall=$(blobs_of "$img/stall/manifest.json" | sed -n 2p)
l_nolen=$(blobs_of "$img/nolen/manifest.json" | sed -n 2p)

# --- upstreams, their fault proxies and depotd

start_upstream a plain || bail "upstream a did not start"
port_a=$UPSTREAM_PORT
start_upstream b plain || bail "upstream b did not start"
port_b=$UPSTREAM_PORT
start_px a "$port_a" || bail "fault proxy a did not start"
pxa=$PX_PORT
pxa_pid=$PX_PID
start_px b "$port_b" || bail "fault proxy b did not start"
pxb=$PX_PORT
pxb_pid=$PX_PID
dead=$(free_port)

upstream_push a "dir:$img/small" small:1 >"$T_DIR/push.out" 2>&1 &&
    upstream_push a "dir:$img/big" big:1 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push a "dir:$img/drop" drop:1 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push a "dir:$img/dangle" dangle:1 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push a "dir:$img/stall" stall:1 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push a "dir:$img/nolen" nolen:1 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push b "dir:$img/m1" multi:t1 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push b "dir:$img/m2" multi:t2 >>"$T_DIR/push.out" 2>&1 &&
    upstream_push b "dir:$img/met" metered:1 >>"$T_DIR/push.out" 2>&1 ||
	bail "pushing the test images failed: $(tail -n 3 "$T_DIR/push.out")"
for t in c1 c2 c3 c4; do
	upstream_push b "dir:$img/cb" "cbimg:$t" >>"$T_DIR/push.out" 2>&1 ||
		bail "pushing cbimg:$t failed"
done

# up-b announces Docker Hub's rate limit headers.
px "$pxb" "ratelimit?remaining=77&limit=100" || bail "fault proxy b: ratelimit"

port=$(free_port)
base="http://127.0.0.1:$port"
data="$T_DIR/data-$port"
cat >"$T_DIR/depot.conf" <<EOC
server = {
  listen = [ "127.0.0.1:$port" ];
  workers = 4;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
upstreams = (
  { key = "up-a"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pxa"; tag_ttl = 3600; },
  { key = "up-b"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pxb"; tag_ttl = 1; },
  { key = "flaky"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pxa"; },
  { key = "up-c"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$port_a"; },
  { key = "up-n1"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$port_b"; negative_ttl = 1; },
  { key = "up-dead"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$dead"; timeout = 5; },
  { key = "up-d"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$port_b"; },
  { key = "up-m"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$port_b"; tag_ttl = 3600; },
  { key = "up-lie"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pxb"; },
  { key = "up-stall"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$pxa";
    min_speed = 1000; speed_window = 2; }
);
registries = (
  { name = "proxy"; type = "docker"; upstreams = [ "up-a", "up-b" ]; },
  { name = "neg"; type = "docker"; upstreams = [ "up-c", "up-b" ]; },
  { name = "cb"; type = "docker"; upstreams = [ "up-dead", "up-d" ]; },
  { name = "metered"; type = "docker"; upstreams = [ "up-m" ]; },
  { name = "hosted"; type = "docker"; },
  { name = "lied"; type = "docker"; upstreams = [ "up-lie" ]; },
  { name = "stuck"; type = "docker"; upstreams = [ "up-stall", "up-c" ]; }
);
EOC
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
depotd_log="$T_DIR/depotd-$port.log"

# --- 1 a corrupted blob body

px "$pxa" "mode?m=corrupt"
res=$(get_blob "flaky/small/blobs/$l_corrupt" "$T_DIR/c1.bin")
if fetch_fails "$res"; then
	ok "corrupt: the client's transfer fails ($res)"
else
	not_ok "corrupt: the client's transfer fails"
	echo "#   curl exit and status: $res; bytes $(sha_of "$T_DIR/c1.bin"), want $l_corrupt"
fi
at_least "$(px_count a GET "/blobs/$l_corrupt\$")" 1 \
    "corrupt: depot fetched the blob through the corrupting proxy"
check "corrupt: nothing stored" test ! -e "$(blob_file "$l_corrupt")"
px "$pxa" "mode?m=pass"
res=$(get_blob "flaky/small/blobs/$l_corrupt" "$T_DIR/c1.bin")
is "$res $(sha_of "$T_DIR/c1.bin")" "0 200 $l_corrupt" \
    "corrupt: once the upstream is good, the blob is served right"
check "corrupt: then it is stored" test -f "$(blob_file "$l_corrupt")"

# --- 2 a connection reset in the middle of a blob

px "$pxa" "mode?m=reset"
res=$(get_blob "flaky/small/blobs/$l_reset" "$T_DIR/c2.bin")
if fetch_fails "$res"; then
	ok "reset: the client's transfer fails ($res)"
else
	not_ok "reset: the client's transfer fails"
	echo "#   curl exit and status: $res"
fi
like "$(grep " /v2/small/blobs/$l_reset " "$T_DIR/proxy-a.log")" "^GET .* reset\$" \
    "reset: the proxy cut the upstream answer"
check "reset: nothing stored" test ! -e "$(blob_file "$l_reset")"
px "$pxa" "mode?m=pass"
res=$(get_blob "flaky/small/blobs/$l_reset" "$T_DIR/c2.bin")
is "$res $(sha_of "$T_DIR/c2.bin")" "0 200 $l_reset" \
    "reset: once the upstream is good, the blob is served right"

# --- 3 single flight

px "$pxa" "mode?m=slow&rate=10M"
pids=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	(curl -s --max-time 120 "$base/v2/flaky/big/blobs/$l_big" | sha_of >"$T_DIR/sf.$i") &
	pids="$pids $!"
done
# While it is fetched for flaky/big, other repositories get it only when
# their own upstream has it. The fill has begun once the proxy relays it.
big_fill_started() {
	[ "$(px_count a GET "/blobs/$l_big\$")" -ge 1 ]
}
t_wait_for big_fill_started
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$base/v2/up-d/big/blobs/$l_big")" 404 \
    "single flight: a repository whose upstream lacks the blob gets 404 while it is fetched"
(curl -s --max-time 120 "$base/v2/up-c/big/blobs/$l_big" | sha_of >"$T_DIR/sf.other") &
pids="$pids $!"
for p in $pids; do
	wait "$p"
done
good=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	[ "$(cat "$T_DIR/sf.$i")" = "$l_big" ] && good=$((good + 1))
done
is "$good" 10 "single flight: 10 concurrent clients all got the 50 MB blob"
is "$(cat "$T_DIR/sf.other")" "$l_big" \
    "single flight: a repository whose upstream has it follows the same fetch"
is "$(px_count a GET "/blobs/$l_big\$")" 1 \
    "single flight: the upstream's proxy saw one GET of it"
is "$(upstream_count a GET "/blobs/$l_big\$")" 1 \
    "single flight: the upstream saw one GET of it"

# --- 4 the client that started a fill goes away

px "$pxa" "mode?m=slow&rate=5M"
# The client leaves once the first bytes arrived (the fill is under way).
curl -s --max-time 60 "$base/v2/flaky/drop/blobs/$l_drop" | head -c 1 >/dev/null
i=0
while [ ! -f "$(blob_file "$l_drop")" ] && [ "$i" -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "disconnect: the fill went on and the blob was committed" \
    test -f "$(blob_file "$l_drop")"
px "$pxa" "mode?m=pass"
stop_upstream a
res=$(get_blob "flaky/drop/blobs/$l_drop" "$T_DIR/c4.bin")
is "$res $(sha_of "$T_DIR/c4.bin")" "0 200 $l_drop" \
    "disconnect: served whole from the cache with the upstream stopped"
is "$(px_count a GET "/blobs/$l_drop\$")" 1 "disconnect: fetched once"
start_upstream a plain || bail "upstream a did not restart"

# --- 10 a blob of another registry, claimed by a HEAD

head -c 300000 /dev/urandom >"$T_DIR/secret.bin"
secret=$(sha_of "$T_DIR/secret.bin")
is "$(push_blob hosted/vault "$T_DIR/secret.bin")" 201 "lie: a blob pushed to a hosted registry"
px "$pxb" "mode?m=lie"
res=$(get_blob "lied/any/blobs/$secret" "$T_DIR/lie.bin")
is "$res" "0 404" "lie: not served through a registry whose upstream only claims it"
check "lie: none of its bytes were sent" test ! -s "$T_DIR/lie.bin" -o \
    "$(sha_of "$T_DIR/lie.bin")" != "$secret"
at_least "$(px_count b GET "/blobs/$secret\$")" 1 \
    "lie: depot asked that upstream for the bytes, not only a HEAD"
px "$pxb" "mode?m=pass"
is "$(get_blob "lied/any/blobs/$secret" "$T_DIR/lie.bin")" "0 404" \
    "lie: and it was not linked there either"

# --- 11 a failed fill links nothing

px "$pxa" "mode?m=slowcorrupt&rate=1M"
pids=""
for i in 1 2 3 4 5 6 7 8; do
	(curl -s --max-time 60 -o /dev/null "$base/v2/proxy/dangle/blobs/$l_dangle") &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p"
done
# The upstream stays corrupt: a fill still under way (they go on without
# their clients) must not store the blob either.
check "dangling: the corrupt blob was not stored" test ! -e "$(blob_file "$l_dangle")"
is "$(push_blob proxy/dangle "$img/dangle/${c_dangle#sha256:}")" 201 \
    "dangling: the image's config pushed"
is "$(curl -s --max-time 30 -o "$T_DIR/dangle.out" -w '%{http_code}' -X PUT \
    -H "Content-Type: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mediaType"])' "$img/dangle/manifest.json")" \
    --data-binary "@$img/dangle/manifest.json" "$base/v2/proxy/dangle/manifests/t1")" 400 \
    "dangling: a manifest naming the blob no fill stored is refused"
like "$(cat "$T_DIR/dangle.out")" "BLOB_UNKNOWN" "dangling: as MANIFEST_BLOB_UNKNOWN"
px "$pxa" "mode?m=pass"

# --- 12 a trickling upstream

px "$pxa" "mode?m=stall&rate=4"
get_blob "stuck/stall/blobs/$l_stall" "$T_DIR/s1.bin" >"$T_DIR/s1.res" &
p1=$!
wait_log a "^GET /v2/stall/blobs/$l_stall 200 stall" ||
	echo "# the stalling upstream was not asked"
get_blob "stuck/stall/blobs/$l_stall" "$T_DIR/s2.bin" >"$T_DIR/s2.res" &
p2=$!
wait "$p1"
wait "$p2"
like "$(cat "$T_DIR/s1.res")" "^(18|56) " \
    "stall: the client of the trickling transfer is cut, not held"
case $(cat "$T_DIR/s2.res") in
18\ * | 56\ *) ok "stall: a client that came later is cut too" ;;
"0 200")
	is "$(sha_of "$T_DIR/s2.bin")" "$l_stall" \
	    "stall: a client that came later got the blob from the next upstream" ;;
*)	not_ok "stall: a client that came later is not held"
	echo "#   curl exit and status: $(cat "$T_DIR/s2.res")" ;;
esac
i=0
while [ ! -f "$(blob_file "$l_stall")" ] && [ "$i" -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "stall: the fill went on to the next upstream and stored the blob" \
    test -f "$(blob_file "$l_stall")"
px "$pxa" "mode?m=pass"
res=$(get_blob "stuck/stall/blobs/$l_stall" "$T_DIR/s3.bin")
is "$res $(sha_of "$T_DIR/s3.bin")" "0 200 $l_stall" "stall: then it is served right"
at_least "$(($(upstream_count a GET "/blobs/$l_stall\$") - $(px_count a GET "/blobs/$l_stall\$")))" 1 \
    "stall: the next upstream (not behind the trickling proxy) was asked"
at_least "$(grep "upstream up-stall" "$depotd_log" | grep -ci "slow")" 1 \
    "stall: depotd logs that the transfer was too slow"

# --- 14 a blob answer without a length: unbounded, so refused (it could
# fill the disk, and its clients could get nothing for as long as it
# trickles); the next upstream serves the blob.

px "$pxa" "mode?m=nolength"
res=$(get_blob "stuck/nolen/blobs/$l_nolen" "$T_DIR/n1.bin")
is "$res $(sha_of "$T_DIR/n1.bin")" "0 200 $l_nolen" \
    "nolength: the blob comes from the next upstream"
at_least "$(grep -c "^GET /v2/nolen/blobs/$l_nolen 200 nolength" "$T_DIR/proxy-a.log")" 1 \
    "nolength: the upstream without a length was asked first"
at_least "$(grep -c "upstream up-stall: blob $l_nolen comes without a length; refused" "$depotd_log")" 1 \
    "nolength: depotd logs the refusal"
check "nolength: no part file is left behind" \
    test ! -e "$data/tmp/$(echo "$l_nolen" | tr : -).part"
px "$pxa" "mode?m=pass"

# --- 5 429 with Retry-After

px "$pxa" "mode?m=status&code=429&retry_after=60&match=/manifests/"
check "429: the pull is served from the next upstream" \
    pull proxy multi t1 "$d_m1"
at_least "$(grep -c '^[A-Z]* /v2/multi/manifests/t1 429 status$' "$T_DIR/proxy-a.log")" 1 \
    "429: the rate limited upstream was asked first"
before=$(px_forwarded a)
check "429: another uncached tag is pulled too" pull proxy multi t2 "$d_m2"
is "$(px_forwarded a)" "$before" \
    "429: no request to the rate limited upstream before Retry-After"
px "$pxa" "mode?m=pass"

# --- 6 negative cache

na=$(up_asked a '/manifests/nosuch$')
nb=$(up_asked b '/manifests/nosuch$')
is "$(http_status "$base/v2/neg/multi/manifests/nosuch" -H "$ACCEPT")" 404 \
    "negative: a tag no upstream has is 404"
ma=$(up_asked a '/manifests/nosuch$')
mb=$(up_asked b '/manifests/nosuch$')
if [ "$ma" -gt "$na" ] && [ "$mb" -gt "$nb" ]; then
	ok "negative: both upstreams were asked"
else
	not_ok "negative: both upstreams were asked"
	echo "#   upstream a: $na -> $ma, upstream b: $nb -> $mb"
fi
is "$(http_status "$base/v2/neg/multi/manifests/nosuch" -H "$ACCEPT")" 404 \
    "negative: asked again at once, still 404"
is "$(up_asked a '/manifests/nosuch$') $(up_asked b '/manifests/nosuch$')" "$ma $mb" \
    "negative: the upstreams were not asked again"
is "$(http_status "$base/v2/up-n1/multi/manifests/nosuch1" -H "$ACCEPT")" 404 \
    "negative_ttl 1: 404"
n1=$(up_asked b '/manifests/nosuch1$')
sleep 2
is "$(http_status "$base/v2/up-n1/multi/manifests/nosuch1" -H "$ACCEPT")" 404 \
    "negative_ttl 1: 404 again later"
at_least "$(up_asked b '/manifests/nosuch1$')" $((n1 + 1)) \
    "negative_ttl 1: the upstream is asked again once it expired"

# --- 7 circuit breaker

for t in c1 c2 c3 c4; do
	check "circuit: pull cbimg:$t past the unreachable upstream" \
	    pull cb cbimg "$t" "$d_cb"
done
at_least "$(grep -c circuit "$depotd_log")" 1 \
    "circuit: depotd logs that the breaker opened"

# --- 9 metrics

check "metrics: tag pulled (miss)" pull metered metered 1 "$d_met"
check "metrics: tag pulled again (hit)" pull metered metered 1 "$d_met"
curl -s --max-time 10 -o "$T_DIR/metrics" "$base/metrics"
failed_before=$T_FAILED
is "$(metric depot_upstream_cache_misses_total 'registry="metered"' 'kind="manifest"')" 1 \
    "metrics: one manifest miss"
is "$(metric depot_upstream_cache_hits_total 'registry="metered"' 'kind="manifest"')" 1 \
    "metrics: one manifest hit"
is "$(metric depot_upstream_cache_misses_total 'registry="metered"' 'kind="blob"')" 2 \
    "metrics: two blob misses (config and layer)"
is "$(metric depot_upstream_cache_hits_total 'registry="metered"' 'kind="blob"')" 2 \
    "metrics: two blob hits"
at_least "$(metric depot_upstream_errors_total 'upstream="flaky"' 'reason="digest"')" 1 \
    "metrics: the corrupt blob counts as a digest error"
at_least "$(metric_sum depot_upstream_errors_total 'upstream="flaky"')" 2 \
    "metrics: the reset counts as an error too"
at_least "$(metric depot_upstream_errors_total 'upstream="up-a"' 'reason="ratelimited"')" 1 \
    "metrics: the 429 counts as a rate limit error"
at_least "$(metric depot_upstream_errors_total 'upstream="up-dead"' 'reason="connect"')" 3 \
    "metrics: the unreachable upstream's connection errors"
at_least "$(metric depot_upstream_singleflight_waits_total 'registry="flaky"')" 1 \
    "metrics: clients waited for the single flight fetch"
is "$(metric depot_upstream_ratelimit_remaining 'upstream="up-b"')" 77 \
    "metrics: ratelimit-remaining as the upstream announced"
is "$(metric depot_upstream_ratelimit_limit 'upstream="up-b"')" 100 \
    "metrics: ratelimit-limit as the upstream announced"
if [ "$T_FAILED" -ne "$failed_before" ]; then
	grep '^depot_upstream_' "$T_DIR/metrics" | grep -v _bucket | sed 's/^/#   /'
fi

# --- 13 the loop answers while a fill is committed
# The commit thread of a fill waits while the file named by
# DEPOT_TEST_COMMIT_HOLD exists, so the order is certain. One worker:
# /v2/ must be answered meanwhile, and the client's GET, whose digest was
# verified before the commit, gets the whole blob while it is held, and
# the blob is stored only once it is released. Two workers: a client of
# the other worker, which learns of the commit from the store alone, is
# sent all but the held-back tail and waits for the commit.

mk --layers 1 --layer-size 5000000 --seed faults-hold "$img/hold" >/dev/null ||
	bail "mkimage.py failed"
upstream_push a "dir:$img/hold" hold:1 >>"$T_DIR/push.out" 2>&1 ||
	bail "pushing hold:1 failed"
l_hold=$(blobs_of "$img/hold/manifest.json" | sed -n 2p)
hex_hold=${l_hold#sha256:}
main_pid=$DEPOTD_PID

# hold_conf PORT WORKERS: a depotd with one upstream, data in data-PORT.
hold_conf() {
	cat >"$T_DIR/hold-$1.conf" <<EOC
server = {
  listen = [ "127.0.0.1:$1" ];
  workers = $2;
  pidfile = "$T_DIR/depotd-$1.pid";
  data_dir = "$T_DIR/data-$1";
  log = { syslog = false; level = "debug"; access_log = ""; };
};
upstreams = (
  { key = "up-h"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$port_a"; }
);
registries = (
  { name = "held"; type = "docker"; upstreams = [ "up-h" ]; }
);
EOC
}

# hold_start PORT WORKERS: start that depotd with the commit held; sets
# held_pid (DEPOTD_PID stays the main one's).
hold_start() {
	hold_conf "$1" "$2"
	touch "$T_DIR/hold"
	DEPOT_TEST_COMMIT_HOLD="$T_DIR/hold"
	export DEPOT_TEST_COMMIT_HOLD
	start_depotd "$T_DIR/hold-$1.conf" "$1" ||
	    bail "depotd did not start with $2 worker(s)"
	unset DEPOT_TEST_COMMIT_HOLD
	held_pid=$DEPOTD_PID
	DEPOTD_PID=$main_pid
}

# held_blob PORT: the committed blob of that depotd exists.
held_blob() {
	test -e "$T_DIR/data-$1/blobs/sha256/$(echo "$hex_hold" | cut -c1-2)/$hex_hold"
}

# no_held_blob PORT: it does not.
no_held_blob() {
	! held_blob "$1"
}

# size_is FILE BYTES: FILE holds exactly BYTES bytes.
size_is() {
	local got
	got=$(wc -c <"$1")
	[ "$got" -eq "$2" ] && return 0
	echo "$1: $got bytes, want $2"
	return 1
}

port13=$(free_port)
base13="http://127.0.0.1:$port13"
hold_start "$port13" 1
curl -s --max-time 120 -o "$T_DIR/hold.bin" -w '%{http_code}' \
    "$base13/v2/held/hold/blobs/$l_hold" >"$T_DIR/hold.code" &
getter=$!
check "commit: the fill verifies the blob and hands its commit to a thread" \
    t_wait_grep "committing [0-9]* bytes in a thread" "$T_DIR/depotd-$port13.log"
answered=0
for n in 1 2 3; do
	[ "$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$base13/v2/")" = 200 ] &&
	    answered=$((answered + 1))
done
is "$answered" 3 "commit: /v2/ is answered on the same worker meanwhile"
t_wait_gone "$getter" $((T_WAIT * 10))
check "commit: ... the client's GET ends while the commit is held" \
    t_wait_gone "$getter" 0
check "commit: ... and the blob is not stored yet" no_held_blob "$port13"
rm -f "$T_DIR/hold"
wait "$getter"
is "$(cat "$T_DIR/hold.code") $(sha_of "$T_DIR/hold.bin")" "200 $l_hold" \
    "commit: ... with the whole blob, verified before the commit"
check "commit: released, the blob is stored" t_wait_for held_blob "$port13"
# curl would read the whole body in one pass of the worker's loop while
# the socket stays readable: the fill hands the loop back every MB.
check "commit: the fill yielded the loop while it read the body" \
    grep -q "yields the loop every" "$T_DIR/depotd-$port13.log"
is "$(curl -s --max-time 60 "$base13/v2/held/hold/blobs/$l_hold" | sha_of)" \
    "$l_hold" "commit: ... and served from the store"
stop_depotd "$held_pid"
is "$?" 0 "commit: depotd stops cleanly"

# Two workers: clients are sent one at a time until one lands on the
# worker that does not fetch (it follows the fetch of the other).
port13b=$(free_port)
base13b="http://127.0.0.1:$port13b"
log13b="$T_DIR/depotd-$port13b.log"
hold_start "$port13b" 2
curl -s --max-time 120 -o "$T_DIR/hold-0.bin" \
    "$base13b/v2/held/hold/blobs/$l_hold" &
getter=$!
t_wait_grep "committing [0-9]* bytes in a thread" "$log13b" ||
	bail "the fill with two workers did not reach its commit"
line=$(grep "committing [0-9]* bytes in a thread" "$log13b" | head -1)
fetcher=$(echo "$line" | sed -n 's/^depotd\[\([0-9]*\)\].*/\1/p')
size13=$(echo "$line" | sed -n 's/.*committing \([0-9]*\) bytes.*/\1/p')
t_wait_gone "$getter" $((T_WAIT * 10))
wait "$getter"

# other_follows: a fill of another worker than the fetcher's follows.
other_follows() {
	grep ": wait -> follow" "$log13b" | grep -qv "^depotd\[$fetcher\]"
}
# client_settled PID: the client ended, or another worker follows.
client_settled() {
	! kill -0 "$1" 2>/dev/null || other_follows
}
other=
for n in $(seq 1 40); do
	# -N: what came is in the file at once, not in curl's buffer.
	curl -sN --max-time 120 -o "$T_DIR/hold-$n.bin" -w '%{http_code}' \
	    "$base13b/v2/held/hold/blobs/$l_hold" >"$T_DIR/hold-$n.code" &
	c=$!
	t_wait_for client_settled "$c"
	if other_follows; then
		other=$n
		break
	fi
	wait "$c"
done
if [ -z "$other" ]; then
	skip "commit: no client reached the second worker"
	skip "commit: ..."
	skip "commit: ..."
else
	t_wait_for size_is "$T_DIR/hold-$other.bin" $((size13 - 65536))
	check "commit: a client of another worker is sent all but the tail" \
	    size_is "$T_DIR/hold-$other.bin" $((size13 - 65536))
	check "commit: ... and waits for the commit" kill -0 "$c"
	rm -f "$T_DIR/hold"
	t_wait_gone "$c" $((T_WAIT * 10))
	wait "$c"
	is "$(cat "$T_DIR/hold-$other.code") $(sha_of "$T_DIR/hold-$other.bin")" \
	    "200 $l_hold" "commit: ... then gets the whole blob"
fi
rm -f "$T_DIR/hold"
check "commit: with two workers, the blob is stored" \
    t_wait_for held_blob "$port13b"
stop_depotd "$held_pid"
is "$?" 0 "commit: depotd with two workers stops cleanly"

# --- 14 the loop answers while a manifest is stored
# The thread storing a manifest's bytes waits while the file named by
# DEPOT_TEST_COMMIT_HOLD exists. One worker, a hosted registry and one
# pulling through upstream a. The blobs are pushed before the hold.

mk --layers 1 --layer-size 1000 --seed faults-mfpush "$img/mfpush" >/dev/null &&
    d_mfpull=$(mk --layers 1 --layer-size 1000 --seed faults-mfpull \
    "$img/mfpull") || bail "mkimage.py failed"
upstream_push a "dir:$img/mfpull" mfpull:1 >>"$T_DIR/push.out" 2>&1 ||
	bail "pushing mfpull:1 failed"
# variant N: the pushed manifest with annotation N (new bytes, same blobs).
variant() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
if sys.argv[2]:
    m["annotations"] = {"variant": sys.argv[2]}
sys.stdout.write(json.dumps(m, indent=3))' "$img/mfpush/manifest.json" "$1" \
	    >"$T_DIR/mf-$1.json"
}
MF_TYPE="Content-Type: application/vnd.oci.image.manifest.v1+json"
# put_mf N TAG: PUT variant N as mfpush:TAG; prints the status.
put_mf() {
	curl -s --max-time 120 -o /dev/null -w '%{http_code}' -X PUT \
	    -H "$MF_TYPE" --data-binary "@$T_DIR/mf-$1.json" \
	    "$base14/v2/local/mfpush/manifests/$2"
}
# mf_is REPO REF WANT: the manifest REPO:REF is served with digest WANT.
mf_is() {
	[ "$(curl -s --max-time 60 -H "$ACCEPT" \
	    "$base14/v2/$1/manifests/$2" | sha_of)" = "$3" ]
}
# v2_answers: /v2/ is answered 200 three times.
v2_answers() {
	local n
	for n in 1 2 3; do
		[ "$(http_status "$base14/v2/" --max-time 60)" = 200 ] ||
		    return 1
	done
}

port14=$(free_port)
base14="http://127.0.0.1:$port14"
log14="$T_DIR/depotd-$port14.log"
cat >"$T_DIR/mf-$port14.conf" <<EOC
server = {
  listen = [ "127.0.0.1:$port14" ];
  workers = 1;
  pidfile = "$T_DIR/depotd-$port14.pid";
  data_dir = "$T_DIR/data-$port14";
  log = { syslog = false; level = "debug"; access_log = ""; };
};
upstreams = (
  { key = "up-h"; type = "docker"; source = "custom"; url = "http://127.0.0.1:$port_a"; }
);
registries = (
  { name = "local"; type = "docker"; },
  { name = "held"; type = "docker"; upstreams = [ "up-h" ]; }
);
EOC
rm -f "$T_DIR/hold"
DEPOT_TEST_COMMIT_HOLD="$T_DIR/hold"
export DEPOT_TEST_COMMIT_HOLD
start_depotd "$T_DIR/mf-$port14.conf" "$port14" ||
	bail "depotd did not start with one worker"
unset DEPOT_TEST_COMMIT_HOLD
mf_pid=$DEPOTD_PID
DEPOTD_PID=$main_pid
pushed=0
for d in $(blobs_of "$img/mfpush/manifest.json"); do
	[ "$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' -X POST \
	    --data-binary "@$img/mfpush/${d#sha256:}" \
	    "$base14/v2/local/mfpush/blobs/uploads/?digest=$d")" = 201 ] &&
	    pushed=$((pushed + 1))
done
is "$pushed" 2 "manifest store: the blobs are pushed"
variant ""
d_old=$(sha_of "$T_DIR/mf-.json")
is "$(put_mf "" old)" 201 "manifest store: a manifest is pushed as mfpush:old"

# A push held in its store.
variant held
d_held=$(sha_of "$T_DIR/mf-held.json")
touch "$T_DIR/hold"
put_mf held new >"$T_DIR/mf-new.code" &
putter=$!
check "manifest store: the PUT hands the bytes to a thread" \
    t_wait_grep "storing manifest $d_held in a thread" "$log14"
check "manifest store: /v2/ is answered on the same worker meanwhile" v2_answers
check "manifest store: ... and the manifest of another tag" \
    mf_is local/mfpush old "$d_old"
check "manifest store: ... while the PUT is still in flight" kill -0 "$putter"
is "$(cat "$T_DIR/mf-new.code")" "" "manifest store: ... and has not been answered"
rm -f "$T_DIR/hold"
t_wait_gone "$putter" $((T_WAIT * 10))
wait "$putter"
is "$(cat "$T_DIR/mf-new.code")" 201 "manifest store: released, the PUT answers 201"
check "manifest store: ... and mfpush:new is served with its digest" \
    mf_is local/mfpush new "$d_held"
is "$(put_mf held again)" 201 \
    "manifest store: the same bytes pushed again (already stored) answer 201"

# A pull held in its store, and a follower of the same tag.
touch "$T_DIR/hold"
curl -s --max-time 120 -H "$ACCEPT" -o "$T_DIR/mf-lead.json" -w '%{http_code}' \
    "$base14/v2/held/mfpull/manifests/1" >"$T_DIR/mf-lead.code" &
leader=$!
check "manifest store: the pulled manifest goes to a thread" \
    t_wait_grep "storing manifest $d_mfpull in a thread" "$log14"
curl -s --max-time 120 -H "$ACCEPT" -o "$T_DIR/mf-follow.json" -w '%{http_code}' \
    "$base14/v2/held/mfpull/manifests/1" >"$T_DIR/mf-follow.code" &
follower=$!
check "manifest store: a second GET of the tag waits for the pull" \
    t_wait_grep "waiting for the pull of held/mfpull:1 under way" "$log14"
check "manifest store: /v2/ is answered meanwhile" v2_answers
check "manifest store: ... and a hosted manifest" \
    mf_is local/mfpush old "$d_old"
check "manifest store: ... while both GETs are in flight" \
    kill -0 "$leader" "$follower"
rm -f "$T_DIR/hold"
t_wait_gone "$leader" $((T_WAIT * 10))
t_wait_gone "$follower" $((T_WAIT * 10))
wait "$leader"
wait "$follower"
is "$(cat "$T_DIR/mf-lead.code") $(sha_of "$T_DIR/mf-lead.json")" \
    "200 $d_mfpull" "manifest store: released, the pull serves the manifest"
is "$(cat "$T_DIR/mf-follow.code") $(sha_of "$T_DIR/mf-follow.json")" \
    "200 $d_mfpull" "manifest store: ... and so does its follower"
is "$(upstream_count a GET '^/v2/mfpull/manifests/1$')" 1 \
    "manifest store: ... from one upstream GET"

# A client that leaves while its push is held.
variant gone
d_gone=$(sha_of "$T_DIR/mf-gone.json")
touch "$T_DIR/hold"
put_mf gone gone >/dev/null &
putter=$!
t_wait_grep "storing manifest $d_gone in a thread" "$log14" ||
	bail "the PUT of mfpush:gone did not reach its store"
kill -TERM "$putter"
wait "$putter"
rm -f "$T_DIR/hold"
check "manifest store: a push whose client left is stored and recorded" \
    t_wait_for mf_is local/mfpush gone "$d_gone"
check "manifest store: ... and the worker answers on" v2_answers

# A push held while depotd is told to stop: answered, then depotd exits.
variant last
d_last=$(sha_of "$T_DIR/mf-last.json")
touch "$T_DIR/hold"
put_mf last last >"$T_DIR/mf-last.code" &
putter=$!
t_wait_grep "storing manifest $d_last in a thread" "$log14" ||
	bail "the PUT of mfpush:last did not reach its store"
kill -TERM "$mf_pid"
check "manifest store: stopping, the worker drains" \
    t_wait_grep ": draining$" "$log14"
rm -f "$T_DIR/hold"
t_wait_gone "$putter" $((T_WAIT * 10))
wait "$putter"
is "$(cat "$T_DIR/mf-last.code")" 201 \
    "manifest store: a push pending at shutdown answers 201"
stop_depotd "$mf_pid"
is "$?" 0 "manifest store: depotd stops cleanly"

# --- 8 every upstream down: depotd starts and serves its cache

stop_depotd "$DEPOTD_PID"
mv "$depotd_log" "$T_DIR/depotd-$port-first.log"
for p in $pxa_pid $pxb_pid; do
	kill -TERM "$p" 2>/dev/null
	t_wait_gone "$p" 50 || kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	up_forget "$p"
done
stop_upstream a
stop_upstream b
if start_depotd "$T_DIR/depot.conf" "$port"; then
	ok "down: depotd starts with every upstream unreachable"
else
	not_ok "down: depotd starts with every upstream unreachable"
fi
check "down: a tag cached from an upstream is served" pull proxy multi t1 "$d_m1"
at_least "$(grep -c stale "$depotd_log")" 1 "down: depotd says it served it stale"
check "down: a fresh cached tag is served" pull metered metered 1 "$d_met"
res=$(get_blob "flaky/big/blobs/$l_big" "$T_DIR/c8.bin")
is "$res $(sha_of "$T_DIR/c8.bin")" "0 200 $l_big" "down: the 50 MB blob by digest"
res=$(get_blob "flaky/small/blobs/$l_corrupt" "$T_DIR/c8.bin")
is "$res $(sha_of "$T_DIR/c8.bin")" "0 200 $l_corrupt" "down: a small blob by digest"
stop_depotd "$DEPOTD_PID"
is "$?" 0 "down: depotd stops cleanly"
