#!/bin/sh
# helm_cache.sh: charts cached from a Helm upstream are cache content.
# A static Helm repository (nginx) is the upstream of a helm registry,
# with a max_cache_bytes that holds two of its three charts: the three
# are downloaded through depot a second or more apart, and the least
# recently downloaded one is evicted (its file, counted in /metrics);
# downloading it again fetches it again from the upstream, and then the
# chart downloaded least recently since goes. The cached charts never
# show on /v2/ (not served, not in the catalog) nor in the API's
# repositories; `depotctl gc --grace 0` keeps them (they are linked);
# `depotctl fsck` finds the store clean; the index.yaml still serves.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "$DEPOT_SRCDIR/tests/regress/helm_lib.sh"

helm_init
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"
[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"

# --- three charts, in a static repository
UP=$T_DIR/www-up/stable
mkdir -p "$UP"
for c in one two three; do
	MC_OUT=$UP make_chart "$c" 1.0.0 >/dev/null || bail "helm could not make chart $c"
done
hm repo index "$UP" || bail "helm repo index failed"
start_static up || bail "nginx (up) did not start"
UPP=$STATIC_PORT
s1=$(stat -c %s "$UP/one-1.0.0.tgz")
s2=$(stat -c %s "$UP/two-1.0.0.tgz")
s3=$(stat -c %s "$UP/three-1.0.0.tgz")
# Two charts fit, three do not: evicting any one brings it back under.
limit=$((s1 + s2 + s3 - 1))
h1=$(sha256 "$UP/one-1.0.0.tgz")
h2=$(sha256 "$UP/two-1.0.0.tgz")
h3=$(sha256 "$UP/three-1.0.0.tgz")

port=$(free_port)
base="http://127.0.0.1:$port"
P="$base/helm/charts"
data="$T_DIR/data-$port"
helm_conf "$T_DIR/depot.conf" "$port" "" "
upstreams = (
  { key = \"upa\"; type = \"helm\"; source = \"custom\"; url = \"http://127.0.0.1:$UPP/stable\";
    tag_ttl = 3600; timeout = 20; max_cache_bytes = $limit; auth = { type = \"anonymous\"; }; }
);
registries = (
  { name = \"charts\"; type = \"helm\"; upstreams = [ \"upa\" ]; },
  { name = \"docker-local\"; type = \"docker\"; }
);"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
DPID=$DEPOTD_PID
dlog="$T_DIR/depotd-$port.log"

dc() {
	"$DEPOTCTL" -c "$T_DIR/depot.conf" "$@" </dev/null
}
# stored HEX: depot holds the blob file of that sha256.
stored() {
	test -f "$data/blobs/sha256/$(echo "$1" | cut -c1-2)/$1"
}
gone() {
	! stored "$1"
}
metric() {
	curl -s "$base/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
has_metric() {
	[ -n "$(metric "$1")" ]
}
later_than() {
	[ "$(date +%s)" -gt "$1" ]
}
# next_second: the downloads before and after are recorded at different
# times (recency has a granularity of one second).
next_second() {
	t_wait_for -t 10 later_than "$(date +%s)"
}
# download NAME: GET the chart through depot; 0 when its bytes are the
# upstream's.
download() {
	curl -fs --max-time 60 -o "$T_DIR/got-$1.tgz" "$P/charts/$1-1.0.0.tgz" &&
	    cmp -s "$T_DIR/got-$1.tgz" "$UP/$1-1.0.0.tgz"
}
fetched() {
	static_count up "^/stable/$1-1\\.0\\.0\\.tgz\$" 200
}

is "$(http_status "$P/index.yaml")" 200 "the index of the helm registry serves"
check "the cache of upa is counted at start" \
    t_wait_for has_metric 'depot_cache_bytes{upstream="upa"}'

# --- three downloads, a second or more apart
for c in one two three; do
	[ "$c" = one ] || next_second
	check "chart $c downloads through depot" download "$c"
done
is "$(fetched one)/$(fetched two)/$(fetched three)" "1/1/1" \
    "each chart was fetched from the upstream once"

# --- the least recently downloaded chart is evicted
check "chart one, downloaded least recently, is evicted" t_wait_for gone "$h1"
check "chart two stays" stored "$h2"
check "chart three stays" stored "$h3"
is "$(metric 'depot_cache_evictions_total{upstream="upa"}')" 1 \
    "the eviction is counted in /metrics"
is "$(metric 'depot_cache_evicted_bytes_total{upstream="upa"}')" "$s1" \
    "the evicted bytes are chart one's"
t_wait_grep "cache: evicted" "$dlog" || true
like "$(grep 'cache: evicted' "$dlog" | tail -n 1)" "evicted 1 of 3" \
    "the run logs what it evicted"

# --- nothing of it on /v2/ or in the API's repositories
curl -s "$base/v2/_catalog" >"$T_DIR/catalog.json"
is "$(jq -c '.repositories' "$T_DIR/catalog.json")" "[]" \
    "the docker catalog lists no cached chart"
is "$(http_status "$base/v2/upa/two/blobs/sha256:$h2")" 404 \
    "/v2/ does not serve a cached chart as a blob"
is "$(http_status "$base/v2/charts/two/blobs/sha256:$h2")" 404 \
    "... nor through the helm registry's name"
is "$(http_status "$base/api/v1/registries/upa/repositories")" 404 \
    "the API lists no repositories of a helm upstream"

# --- downloaded again: fetched again; chart two is now the least recent
next_second
check "the evicted chart one downloads again" download one
is "$(fetched one)" 2 "... fetched again from the upstream"
check "chart two, now the least recently downloaded, is evicted" \
    t_wait_for gone "$h2"
check "chart one is cached again" stored "$h1"
check "chart three stays" stored "$h3"
before=$(fetched three)
check "chart three downloads from the cache" download three
is "$(fetched three)" "$before" "... without asking the upstream"

# --- the collection keeps linked charts; fsck finds the store clean
out=$(dc gc --grace 0 2>&1)
is "$?" 0 "depotctl gc --grace 0 runs"
echo "$out" | sed 's/^/#   /'
check "gc keeps cached chart one" stored "$h1"
check "gc keeps cached chart three" stored "$h3"
check "chart one still downloads" download one
out=$(dc fsck 2>&1)
rc=$?
is "$rc" 0 "depotctl fsck finds the store clean"
[ "$rc" = 0 ] || echo "$out" | sed 's/^/#   /'

# --- the index is unchanged
is "$(http_status "$P/index.yaml")" 200 "the index still serves"

stop_depotd "$DPID"
is "$?" 0 "depotd stops cleanly"
