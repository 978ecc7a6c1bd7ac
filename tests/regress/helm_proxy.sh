#!/bin/sh
# helm_proxy.sh: Helm registries proxying upstream chart repositories.
# The upstreams are static Helm repositories served by nginx on loopback:
# "up" (anonymous) whose index.yaml uses every chart URL form (relative,
# nested relative, root-relative, ../, absolute on its own host, absolute
# on another host "rel" standing for GitHub releases or S3) and lists a
# chart whose bytes do not match its digest; "priv" behind auth_basic.
# Checked: the merged index (hosted charts first, then the upstreams in
# order; earlier name+version wins) with python3-yaml and helm, every URL
# rewritten to depot and downloadable (credentials only to the upstream's
# origin, digests verified, cached), the mismatching chart refused and not
# cached, ETag and revalidation upstream, an upstream key as a read-only
# registry, X-Forwarded-Proto / public_url, the helm client (repo add, update,
# search, pull, template, dependency update on a chart depending on a
# proxied chart), depotctl setup-client's lines, and stale serving with
# the upstreams stopped, also across a restart.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "$DEPOT_SRCDIR/tests/regress/helm_lib.sh"

helm_init
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"

# get URL NAME [curl args]: GET into $T_DIR/NAME (headers in NAME.h);
# prints the status.
get() {
	local url=$1 name=$2
	shift 2
	curl -s -D "$T_DIR/$name.h" -o "$T_DIR/$name" -w '%{http_code}' \
	    --max-time 120 "$@" "$url"
}
# header NAME FIELD: a header of a saved answer.
header() {
	tr -d '\r' <"$T_DIR/$1.h" | awk -v f="$2" '
	    BEGIN { f = tolower(f) ":" }
	    tolower($1) == f { sub(/^[^:]*:[ \t]*/, ""); v = $0 }
	    END { print v }'
}
# at_least GOT MIN DESCRIPTION
at_least() {
	if [ "${1:-0}" -ge "$2" ] 2>/dev/null; then
		ok "$3"
	else
		not_ok "$3"
		echo "#   got: '$1', want at least $2"
	fi
}

# --- charts: upstream A's, upstream B's and the hosted ones differ in
# their bytes even where name and version are the same.
mk() {
	make_chart "$@" >/dev/null || bail "helm could not make chart $1 $2"
}
UA=$T_DIR/ua
UB=$T_DIR/ub
HO=$T_DIR/hosted
for c in alpha-1.0.0 alpha-1.1.0 beta-1.0.0 gamma-1.0.0 delta-1.0.0 epsilon-1.0.0 \
    zeta-1.0.0 broken-1.0.0 common-1.0.0 common-1.1.0; do
	MC_OUT=$UA MC_NOTE="upstream a" mk "${c%-*}" "${c##*-}"
done
MC_OUT=$T_DIR/other MC_NOTE="not what the index says" mk broken 1.0.0
for c in common-1.1.0 common-1.2.0 privchart-1.0.0 privabs-1.0.0; do
	MC_OUT=$UB MC_NOTE="upstream b" mk "${c%-*}" "${c##*-}"
done
MC_OUT=$HO MC_NOTE="hosted" mk common 1.0.0
mk setup 0.1.0

# --- the static repositories
start_static rel || bail "nginx (rel) did not start"
RELP=$STATIC_PORT
start_static up || bail "nginx (up) did not start"
UPP=$STATIC_PORT
start_static priv auth || bail "nginx (priv) did not start"
PRIVP=$STATIC_PORT

# build_up [new]: upstream A's tree and index.yaml (made by `helm repo
# index`), then the URLs moved to every form; with "new", alpha 1.1.0 too.
build_up() {
	local w=$T_DIR/www-up r=$T_DIR/www-rel/download/v1 i
	rm -rf "$w/stable" "$w/charts" "$w/shared" "$r"
	mkdir -p "$w/stable/charts" "$w/stable/pkgs" "$w/charts" "$w/shared" "$r"
	for c in alpha-1.0.0 gamma-1.0.0 epsilon-1.0.0 zeta-1.0.0 broken-1.0.0 \
	    common-1.0.0 common-1.1.0; do
		cp "$UA/$c.tgz" "$w/stable/"
	done
	[ "${1:-}" = new ] && cp "$UA/alpha-1.1.0.tgz" "$w/stable/"
	cp "$UA/beta-1.0.0.tgz" "$w/stable/charts/"
	cp "$UA/delta-1.0.0.tgz" "$w/stable/pkgs/"
	hm repo index "$w/stable" || return 1
	mv "$w/stable/gamma-1.0.0.tgz" "$w/charts/"
	mv "$w/stable/epsilon-1.0.0.tgz" "$r/"
	mv "$w/stable/zeta-1.0.0.tgz" "$w/shared/"
	cp "$T_DIR/other/broken-1.0.0.tgz" "$w/stable/broken-1.0.0.tgz"
	i=$w/stable/index.yaml
	sed -e "s|^    - gamma-1.0.0.tgz\$|    - /charts/gamma-1.0.0.tgz|" \
	    -e "s|^    - pkgs/delta-1.0.0.tgz\$|    - http://127.0.0.1:$UPP/stable/pkgs/delta-1.0.0.tgz|" \
	    -e "s|^    - epsilon-1.0.0.tgz\$|    - http://127.0.0.1:$RELP/download/v1/epsilon-1.0.0.tgz|" \
	    -e "s|^    - zeta-1.0.0.tgz\$|    - ../shared/zeta-1.0.0.tgz|" "$i" >"$i.tmp" &&
	    mv "$i.tmp" "$i"
	[ "$(grep -c -e '- /charts/gamma' -e "- http://127.0.0.1:$UPP/stable/pkgs/delta" \
	    -e "- http://127.0.0.1:$RELP/download/v1/epsilon" -e '- \.\./shared/zeta' \
	    -e '- charts/beta-1.0.0.tgz' -e '- alpha-1.0.0.tgz' "$i")" = 6 ]
}
build_up || bail "could not build upstream A's repository"
# Upstream B: relative URLs, and one chart on the other host.
w=$T_DIR/www-priv/repo
mkdir -p "$w" "$T_DIR/www-rel/b"
cp "$UB"/*.tgz "$w/"
hm repo index "$w" || bail "helm repo index failed"
mv "$w/privabs-1.0.0.tgz" "$T_DIR/www-rel/b/"
sed -i "s|^    - privabs-1.0.0.tgz\$|    - http://127.0.0.1:$RELP/b/privabs-1.0.0.tgz|" "$w/index.yaml"
check "the upstream indexes are valid (python3-yaml)" \
    sh -c "'$HELM_PY' '$HELM_INDEX' check '$T_DIR/www-up/stable/index.yaml' >/dev/null &&
    '$HELM_PY' '$HELM_INDEX' check '$w/index.yaml' >/dev/null"
is "$(http_status "http://127.0.0.1:$PRIVP/repo/index.yaml")" 401 \
    "upstream B needs credentials (auth_basic)"
is "$(http_status "http://127.0.0.1:$PRIVP/repo/index.yaml" -u "$STATIC_USER:$STATIC_PASSWORD")" 200 \
    "upstream B answers with them"

# --- depotd
printf '%s\n' "$STATIC_PASSWORD" >"$T_DIR/upb.secret"
chmod 600 "$T_DIR/upb.secret"
port=$(free_port)
base="http://127.0.0.1:$port"
P="$base/helm/helm-proxy"
helm_conf "$T_DIR/depot.conf" "$port" 'trusted_proxies = [ "127.0.0.1" ];' "
upstreams = (
  { key = \"upa\"; type = \"helm\"; source = \"custom\"; url = \"http://127.0.0.1:$UPP/stable\";
    tag_ttl = 0; timeout = 20; auth = { type = \"anonymous\"; }; },
  { key = \"upb\"; type = \"helm\"; source = \"custom\"; url = \"http://127.0.0.1:$PRIVP/repo/\";
    tag_ttl = 0; timeout = 20;
    auth = { type = \"userpass\"; username = \"$STATIC_USER\"; password_file = \"$T_DIR/upb.secret\"; }; }
);
registries = (
  { name = \"helm-proxy\"; type = \"helm\"; upstreams = [ \"upa\", \"upb\" ]; }
);"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
DPID=$DEPOTD_PID
DLOG=$T_DIR/depotd-$port.log

# blob_file SHA: the committed blob of that sha256, if depot has it.
blob_file() {
	find "$T_DIR/data-$port/blobs" -type f -name "$1*" 2>/dev/null | head -n 1
}

# --- 1. hosted first: common 1.0.0 also exists upstream
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST \
    --data-binary "@$HO/common-1.0.0.tgz" "$P/api/charts")" 201 \
    "a chart uploaded to the proxying registry (common 1.0.0, also upstream)"

# --- 2. the merged index
is "$(get "$P/index.yaml" m1.yaml)" 200 "GET the merged index.yaml answers 200"
check "the merged index is a valid index (python3-yaml and helm)" index_valid "$T_DIR/m1.yaml"
index_check "$T_DIR/m1.yaml" --base "$P/index.yaml" >"$T_DIR/m1.lines" 2>/dev/null
is "$(awk '{ print $1 "-" $2 }' "$T_DIR/m1.lines" | sort | tr '\n' ' ')" \
    "alpha-1.0.0 beta-1.0.0 broken-1.0.0 common-1.0.0 common-1.1.0 common-1.2.0 delta-1.0.0 epsilon-1.0.0 gamma-1.0.0 privabs-1.0.0 privchart-1.0.0 zeta-1.0.0 " \
    "the merged index has every chart version of the registry and both upstreams, once"
digest_of() {
	awk -v n="$1" -v v="$2" '$1 == n && $2 == v { print $3 }' "$T_DIR/m1.lines"
}
is "$(digest_of common 1.0.0)" "$(sha256 "$HO/common-1.0.0.tgz")" \
    "precedence: the hosted common 1.0.0 wins over upstream A's"
is "$(digest_of common 1.1.0)" "$(sha256 "$UA/common-1.1.0.tgz")" \
    "precedence: upstream A's common 1.1.0 wins over upstream B's (listed order)"
is "$(digest_of common 1.2.0)" "$(sha256 "$UB/common-1.2.0.tgz")" \
    "upstream B's own common 1.2.0 is there"
is "$(digest_of broken 1.0.0)" "$(sha256 "$UA/broken-1.0.0.tgz")" \
    "the index keeps the digest the upstream index gave"
bad=""
while read -r n v d u; do
	[ "$u" = "$P/charts/$n-$v.tgz" ] || bad="$bad $n-$v:$u"
done <"$T_DIR/m1.lines"
is "$bad" "" "every chart URL, whatever its form upstream, resolves to /helm/helm-proxy/charts/NAME-VERSION.tgz"
if grep -Eq "127\.0\.0\.1:($UPP|$RELP|$PRIVP)" "$T_DIR/m1.yaml"; then
	not_ok "no upstream host appears in the merged index"
	grep -E "127\.0\.0\.1:($UPP|$RELP|$PRIVP)" "$T_DIR/m1.yaml" | head -n 5 | sed 's/^/#   /'
else
	ok "no upstream host appears in the merged index"
fi
"$HELM_PY" -c '
import sys, yaml
e = yaml.safe_load(open(sys.argv[1]))["entries"]
g = e["gamma"][0]
ok = (g.get("description", "").startswith("Chart gamma version 1.0.0") and
      g.get("appVersion") == "app-1.0.0" and g.get("apiVersion") == "v2" and
      g.get("created"))
sys.exit(0 if ok else 1)' "$T_DIR/m1.yaml"
is "$?" 0 "proxied entries keep upstream's Chart.yaml fields"
etag=$(header m1.yaml ETag)
like "$etag" '^(W/)?".+"$' "the merged index has an ETag"
like "$(header m1.yaml Last-Modified)" 'GMT$' "the merged index has a Last-Modified date"

# Upstream auth: B's index was fetched with the credentials.
at_least "$(awk '$2 == "/repo/index.yaml" && $3 == 200 && $4 == "ci"' "$T_DIR/static-priv.access" | wc -l)" 1 \
    "upstream B's index was fetched with its user (auth_basic)"
is "$(awk '$5 == "yes"' "$T_DIR/static-up.access" | wc -l | tr -d ' ')" 0 \
    "no credentials were sent to the anonymous upstream"

# --- 3. every URL form downloads; fetched from the right place, once
for c in alpha-1.0.0 beta-1.0.0 gamma-1.0.0 delta-1.0.0 epsilon-1.0.0 zeta-1.0.0 common-1.1.0; do
	code=$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$P/charts/$c.tgz")
	if [ "$code" = 200 ] && cmp -s "$T_DIR/dl.tgz" "$UA/$c.tgz"; then
		ok "download $c.tgz through depot: upstream A's bytes"
	else
		not_ok "download $c.tgz through depot: upstream A's bytes"
		echo "#   status $code, $(wc -c <"$T_DIR/dl.tgz" | tr -d ' ') bytes"
	fi
done
for c in common-1.2.0 privchart-1.0.0 privabs-1.0.0; do
	code=$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$P/charts/$c.tgz")
	if [ "$code" = 200 ] && cmp -s "$T_DIR/dl.tgz" "$UB/$c.tgz"; then
		ok "download $c.tgz through depot: upstream B's bytes"
	else
		not_ok "download $c.tgz through depot: upstream B's bytes"
		echo "#   status $code, $(wc -c <"$T_DIR/dl.tgz" | tr -d ' ') bytes"
	fi
done
code=$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$P/charts/common-1.0.0.tgz")
is "$code $(sha256 "$T_DIR/dl.tgz")" "200 $(sha256 "$HO/common-1.0.0.tgz")" \
    "download common-1.0.0.tgz: the hosted chart"
is "$(static_count up '^/stable/alpha-1\.0\.0\.tgz$' 200)" 1 "relative: fetched from /stable/alpha-1.0.0.tgz"
is "$(static_count up '^/stable/charts/beta-1\.0\.0\.tgz$' 200)" 1 "nested relative: fetched from /stable/charts/beta-1.0.0.tgz"
is "$(static_count up '^/charts/gamma-1\.0\.0\.tgz$' 200)" 1 "root-relative: fetched from /charts/gamma-1.0.0.tgz on the upstream host"
is "$(static_count up '^/stable/pkgs/delta-1\.0\.0\.tgz$' 200)" 1 "absolute on the upstream host: fetched from there"
is "$(static_count rel '^/download/v1/epsilon-1\.0\.0\.tgz$' 200)" 1 "absolute on another host: fetched from that host"
is "$(static_count up '^/shared/zeta-1\.0\.0\.tgz$' 200)" 1 "../ relative: fetched from /shared/zeta-1.0.0.tgz"
is "$(static_count rel '^/b/privabs-1\.0\.0\.tgz$' 200)" 1 "upstream B's chart on another host: fetched from there"
is "$(awk '$5 == "yes"' "$T_DIR/static-rel.access" | wc -l | tr -d ' ')" 0 \
    "upstream B's credentials were not sent to the other host"
at_least "$(awk '$2 == "/repo/privchart-1.0.0.tgz" && $3 == 200 && $4 == "ci"' "$T_DIR/static-priv.access" | wc -l)" 1 \
    "upstream B's own chart was fetched with its credentials"
is "$(static_count up '^/(stable|charts|shared)/.*\.tgz$' 200) $(static_count rel '\.tgz$' 200)" "6 2" \
    "(no other chart was fetched upstream)"
for c in alpha-1.0.0 beta-1.0.0 gamma-1.0.0 delta-1.0.0 epsilon-1.0.0 zeta-1.0.0; do
	curl -s -f -o /dev/null --max-time 60 "$P/charts/$c.tgz" || echo "# $c: second download failed"
done
is "$(static_count up '^/(stable|charts|shared)/.*\.tgz$') $(static_count rel '\.tgz$')" "6 2" \
    "second downloads are served from depot's cache (upstreams not asked)"
check "a downloaded chart is a blob in depot's store" test -n "$(blob_file "$(sha256 "$UA/gamma-1.0.0.tgz")")"
is "$(http_status "$P/charts/alpha-9.9.9.tgz")" 404 "a chart no member has answers 404"
is "$(http_status "$P/charts/gamma-1.0.0.tgz" -I)" 200 "HEAD of a proxied chart answers 200"

# --- 4. the chart whose bytes do not match its digest
bsha=$(sha256 "$T_DIR/other/broken-1.0.0.tgz")
code=$(curl -s -o "$T_DIR/broken.tgz" -w '%{http_code}' --max-time 60 "$P/charts/broken-1.0.0.tgz")
rc=$?
if [ "$code" != 200 ] || [ "$rc" -ne 0 ]; then
	ok "a chart whose bytes do not match the index digest is refused (status $code, curl $rc)"
else
	not_ok "a chart whose bytes do not match the index digest is refused (status $code, curl $rc)"
fi
like "$code" '^(5[0-9][0-9]|200)$' "the refusal is a 5xx (or a cut 200 stream)"
is "$(blob_file "$bsha")" "" "the mismatching bytes are not stored"
code2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$P/charts/broken-1.0.0.tgz")
rc=$?
if [ "$code2" != 200 ] || [ "$rc" -ne 0 ]; then
	ok "asked again, it is refused again"
else
	not_ok "asked again, it is refused again"
fi
is "$(static_count up '^/stable/broken-1\.0\.0\.tgz$')" 2 "it was not cached: depot asked the upstream again"
curl -s --max-time 10 -o "$T_DIR/metrics" "$base/metrics"
like "$(grep -v '^#' "$T_DIR/metrics" | grep 'upa')" 'reason="digest"' \
    "the mismatch counts as an upstream digest error in /metrics"
like "$(cat "$DLOG")" 'broken' "depotd logs the refused chart"

# --- 5. ETag, revalidation upstream, gzip
is "$(http_status "$P/index.yaml" -H "If-None-Match: $etag")" 304 \
    "If-None-Match with the merged index's ETag answers 304"
get "$P/index.yaml" m2.yaml >/dev/null
check "unchanged upstreams: the same merged index" cmp "$T_DIR/m1.yaml" "$T_DIR/m2.yaml"
is "$(header m2.yaml ETag)" "$etag" "unchanged upstreams: the same ETag"
at_least "$(awk '$2 == "/stable/index.yaml" && $3 == 304 && ($6 == "yes" || $7 == "yes")' "$T_DIR/static-up.access" | wc -l)" 1 \
    "depot revalidates upstream A's index with If-None-Match / If-Modified-Since (304)"
at_least "$(awk '$2 == "/repo/index.yaml" && $3 == 304 && $4 == "ci"' "$T_DIR/static-priv.access" | wc -l)" 1 \
    "and upstream B's, with its credentials"
curl -s --max-time 30 -H 'Accept-Encoding: gzip' -D "$T_DIR/mgz.h" -o "$T_DIR/m.gz" "$P/index.yaml"
is "$(header mgz Content-Encoding)" gzip "the merged index is gzip-encoded when asked"
check "the gzip-encoded merged index is the same" sh -c "gzip -dc '$T_DIR/m.gz' | cmp - '$T_DIR/m1.yaml'"

# --- 6. an upstream that changes: the merged index follows
build_up new || bail "could not rebuild upstream A"
get "$P/index.yaml" m3.yaml >/dev/null
index_check "$T_DIR/m3.yaml" --base "$P/index.yaml" >"$T_DIR/m3.lines"
is "$?" 0 "the merged index after an upstream change is valid (python3-yaml)"
check "helm reads it" helm_reads "$T_DIR/m3.yaml"
is "$(awk '$1 == "alpha" { print $2 }' "$T_DIR/m3.lines" | sort | tr '\n' ' ')" "1.0.0 1.1.0 " \
    "the merged index has the new upstream version (tag_ttl 0)"
[ "$(header m3.yaml ETag)" != "$etag" ]
is "$?" 0 "its ETag changed"
is "$(http_status "$P/index.yaml" -H "If-None-Match: $etag")" 200 "the old ETag answers 200"
is "$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$P/charts/alpha-1.1.0.tgz") $(sha256 "$T_DIR/dl.tgz")" \
    "200 $(sha256 "$UA/alpha-1.1.0.tgz")" "the new version downloads"

# --- 7. upstream keys are read-only registries
is "$(get "$base/helm/upa/index.yaml" ka.yaml)" 200 "GET /helm/upa/index.yaml (an upstream key) answers 200"
index_check "$T_DIR/ka.yaml" --base "$base/helm/upa/index.yaml" >"$T_DIR/ka.lines"
is "$?" 0 "the upstream key's index is valid (python3-yaml)"
check "helm reads it" helm_reads "$T_DIR/ka.yaml"
is "$(awk '{ print $1 "-" $2 }' "$T_DIR/ka.lines" | sort | tr '\n' ' ')" \
    "alpha-1.0.0 alpha-1.1.0 beta-1.0.0 broken-1.0.0 common-1.0.0 common-1.1.0 delta-1.0.0 epsilon-1.0.0 gamma-1.0.0 zeta-1.0.0 " \
    "it lists upstream A's charts only"
is "$(awk '$1 == "common" && $2 == "1.0.0" { print $3 }' "$T_DIR/ka.lines")" "$(sha256 "$UA/common-1.0.0.tgz")" \
    "its common 1.0.0 is upstream A's, not the registry's hosted one"
bad=""
while read -r n v d u; do
	[ "$u" = "$base/helm/upa/charts/$n-$v.tgz" ] || bad="$bad $n-$v:$u"
done <"$T_DIR/ka.lines"
is "$bad" "" "its chart URLs resolve to /helm/upa/charts/NAME-VERSION.tgz"
is "$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$base/helm/upa/charts/epsilon-1.0.0.tgz") $(sha256 "$T_DIR/dl.tgz")" \
    "200 $(sha256 "$UA/epsilon-1.0.0.tgz")" "a chart downloads from the upstream key"
is "$(get "$base/helm/upb/index.yaml" kb.yaml)" 200 "GET /helm/upb/index.yaml answers 200"
check "upstream B's key index is valid (python3-yaml and helm)" index_valid "$T_DIR/kb.yaml"
is "$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$base/helm/upb/charts/common-1.1.0.tgz") $(sha256 "$T_DIR/dl.tgz")" \
    "200 $(sha256 "$UB/common-1.1.0.tgz")" "/helm/upb/ serves upstream B's own common 1.1.0"
like "$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST \
    --data-binary "@$T_DIR/charts/setup-0.1.0.tgz" "$base/helm/upa/api/charts")" '^40[35]$' \
    "an upload to an upstream key is refused (read-only)"
like "$(http_status "$base/helm/upa/api/charts/alpha/1.0.0" -X DELETE)" '^40[345]$' \
    "a delete on an upstream key is refused"

# --- 8. behind a TLS-terminating proxy: https chart URLs
get "$P/index.yaml" fw.yaml -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: charts.example.test' >/dev/null
index_check "$T_DIR/fw.yaml" --base "https://charts.example.test/helm/helm-proxy/index.yaml" >"$T_DIR/fw.lines"
is "$?" 0 "the index seen through a proxy is valid (python3-yaml)"
check "helm reads it" helm_reads "$T_DIR/fw.yaml"
bad=$(awk '$4 !~ "^https://charts\\.example\\.test/helm/helm-proxy/charts/" { print $1 "-" $2 ":" $4 }' "$T_DIR/fw.lines")
is "$bad" "" "with X-Forwarded-Proto: https, every chart URL resolves to https://<forwarded host>/..."
like "$(grep -c '^    - http://' "$T_DIR/fw.yaml")" '^0$' "no chart URL is absolute http:// behind TLS"
pport=$(free_port)
helm_conf "$T_DIR/public.conf" "$pport" 'public_url = "https://depot.example.test";' "
upstreams = (
  { key = \"upa\"; type = \"helm\"; source = \"custom\"; url = \"http://127.0.0.1:$UPP/stable\"; }
);
registries = (
  { name = \"pub\"; type = \"helm\"; upstreams = [ \"upa\" ]; }
);"
if start_depotd "$T_DIR/public.conf" "$pport"; then
	PPID2=$DEPOTD_PID
	get "http://127.0.0.1:$pport/helm/pub/index.yaml" pub.yaml >/dev/null
	index_check "$T_DIR/pub.yaml" --base "https://depot.example.test/helm/pub/index.yaml" >"$T_DIR/pub.lines"
	is "$?" 0 "with public_url, the index is valid (python3-yaml)"
	check "helm reads it" helm_reads "$T_DIR/pub.yaml"
	is "$(awk '{ print $4 }' "$T_DIR/pub.lines" | grep -vc '^https://depot\.example\.test/helm/pub/charts/')" 0 \
	    "with public_url https://..., chart URLs resolve under it"
	is "$(grep -c '^    - http://' "$T_DIR/pub.yaml")" 0 "with an https public_url no chart URL is absolute http://"
	like "$("$DEPOTCTL" -c "$T_DIR/public.conf" setup-client pub 2>&1)" \
	    'helm repo add pub https://depot\.example\.test/helm/pub' \
	    "setup-client uses public_url in helm repo add"
	stop_depotd "$PPID2" >/dev/null
	forget_pid "$PPID2"
else
	not_ok "depotd with public_url started"
fi

# --- 9. the helm client
check "helm repo add of the proxying registry" hm repo add proxy "$P"
check "helm repo update" hm repo update proxy
hm search repo proxy/ >"$T_DIR/search.out" 2>&1
for c in alpha beta gamma delta epsilon zeta common privchart privabs; do
	grep -Eq "^proxy/${c}[[:space:]]" "$T_DIR/search.out" || break
	c=""
done
is "$c" "" "helm search repo lists the charts of the registry and both upstreams"
like "$(cat "$T_DIR/search.out")" 'proxy/common[[:space:]]+1\.2\.0' "helm search repo shows common 1.2.0 (upstream B's) as the newest"
mkdir -p "$T_DIR/pulled"
for c in beta gamma delta epsilon zeta privabs; do
	if hm pull "proxy/$c" --version 1.0.0 -d "$T_DIR/pulled" >"$T_DIR/pull.out" 2>&1; then
		ok "helm pull proxy/$c"
	else
		not_ok "helm pull proxy/$c"
		sed 's/^/#   /' "$T_DIR/pull.out" | head -n 5
	fi
done
check "helm pull of the root-relative chart is upstream's file" \
    cmp "$T_DIR/pulled/gamma-1.0.0.tgz" "$UA/gamma-1.0.0.tgz"
check "helm pull of the chart on another host is upstream's file" \
    cmp "$T_DIR/pulled/epsilon-1.0.0.tgz" "$UA/epsilon-1.0.0.tgz"
hm template rel "$T_DIR/pulled/gamma-1.0.0.tgz" >"$T_DIR/template.out" 2>&1
is "$?" 0 "helm template renders a pulled chart"
like "$(cat "$T_DIR/template.out")" 'kind: Service' "the rendered chart has its Service"
if hm pull proxy/broken --version 1.0.0 -d "$T_DIR/pulled" >"$T_DIR/pull.out" 2>&1; then
	not_ok "helm pull of the mismatching chart fails"
else
	ok "helm pull of the mismatching chart fails"
fi
# A chart depending on proxied charts (root-relative and on another host).
app=$(make_chart app 0.1.0 gamma 1.0.0 "$P" epsilon "^1.0.0" "$P") ||
    bail "could not make the app chart"
hm dependency update "$app" >"$T_DIR/depup.out" 2>&1
is "$?" 0 "helm dependency update of a chart depending on proxied charts"
sed 's/^/# /' "$T_DIR/depup.out" | grep -i 'error' | head -n 5
check "the root-relative dependency is upstream's file" cmp "$app/charts/gamma-1.0.0.tgz" "$UA/gamma-1.0.0.tgz"
check "the dependency on another host is upstream's file" cmp "$app/charts/epsilon-1.0.0.tgz" "$UA/epsilon-1.0.0.tgz"
hm template rel "$app" >"$T_DIR/apptemplate.out" 2>&1
is "$?" 0 "helm template renders the chart with its proxied dependencies"
like "$(grep -c '^kind: Deployment' "$T_DIR/apptemplate.out")" '^3$' \
    "the rendered chart has the Deployments of the chart and both dependencies"
check "helm repo add of an upstream key (read-only registry)" hm repo add upa "$base/helm/upa"
like "$(hm search repo upa/ 2>&1)" 'upa/gamma[[:space:]]+1\.0\.0' "helm search repo finds upstream A's charts under the key"
check "helm pull from the upstream key" hm pull upa/zeta --version 1.0.0 -d "$T_DIR/pulled" --untar --untardir "$T_DIR/untar"
check "helm's cached index of the registry is what depot serves now" \
    sh -c "curl -s --max-time 30 '$P/index.yaml' | cmp - '$HELM_REPOSITORY_CACHE/proxy-index.yaml'"

# --- 10. depotctl setup-client, run as printed
run_setup "$T_DIR/depot.conf" helm-proxy "" "" gamma 1.0.0 >"$T_DIR/setup.log" 2>&1
rc=$?
sed -n 's/^# \$ /# ran: /p' "$T_DIR/setup.log"
grep '^#   ' "$T_DIR/setup.log"
is "$rc" 0 "the lines of depotctl setup-client helm-proxy work as printed"
run_setup "$T_DIR/depot.conf" upa "" "" zeta 1.0.0 >"$T_DIR/setup-upa.log" 2>&1
rc=$?
sed -n 's/^# \$ /# ran: /p' "$T_DIR/setup-upa.log"
grep '^#   ' "$T_DIR/setup-upa.log"
is "$rc" 0 "the lines of depotctl setup-client upa (an upstream key) work as printed"
if grep -q 'api/charts' "$T_DIR/setup-upa.out"; then
	not_ok "setup-client of a read-only key prints no upload line"
else
	ok "setup-client of a read-only key prints no upload line"
fi

# --- 11. stale: the upstreams stop
get "$P/index.yaml" before-stop.yaml >/dev/null
stop_static up
stop_static priv
stop_static rel
is "$(get "$P/index.yaml" stale1.yaml)" 200 "upstreams down: the merged index still answers 200"
check "upstreams down: it is the last merged index" cmp "$T_DIR/before-stop.yaml" "$T_DIR/stale1.yaml"
check "upstreams down: it is valid (python3-yaml and helm)" index_valid "$T_DIR/stale1.yaml"
for c in gamma-1.0.0 epsilon-1.0.0 zeta-1.0.0; do
	code=$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$P/charts/$c.tgz")
	is "$code $(sha256 "$T_DIR/dl.tgz")" "200 $(sha256 "$UA/$c.tgz")" \
	    "upstreams down: the cached $c.tgz is served"
done
like "$(http_status "$P/charts/common-1.0.0.tgz")" '^200$' "upstreams down: the hosted chart is served"
like "$(http_status "$base/helm/upb/charts/privchart-1.0.0.tgz") $(http_status "$P/charts/alpha-1.1.0.tgz")" '^200 200$' \
    "upstreams down: charts pulled through a key or after a change are served"
like "$(http_status "$base/helm/upb/charts/common-1.2.0.tgz") $(http_status "$P/charts/common-1.2.0.tgz")" '^200 200$' \
    "upstreams down: common 1.2.0 is cached"
like "$(http_status "$base/helm/upa/charts/delta-1.0.0.tgz")" '^200$' "upstreams down: the key serves a cached chart"
like "$(http_status "$base/helm/upb/charts/common-1.1.0.tgz")" '^200$' "upstreams down: upstream B's cached common 1.1.0"
is "$(get "$base/helm/upa/index.yaml" stalea.yaml)" 200 "upstreams down: the upstream key's index answers 200"
check "upstreams down: it is valid (python3-yaml and helm)" index_valid "$T_DIR/stalea.yaml"
like "$(http_status "$P/charts/broken-1.0.0.tgz")" '^5[0-9][0-9]$' \
    "upstreams down: a chart never cached answers 5xx"
check "depotd logs that it serves a stale index" t_wait_grep -t 20 '[Ss]tale' "$DLOG"
curl -s --max-time 10 -o "$T_DIR/metrics" "$base/metrics"
like "$(grep -v '^#' "$T_DIR/metrics" | grep -i 'stale' | grep -v ' 0$')" '.' \
    "a stale-serving metric counts it"
stop_depotd "$DPID"
is "$?" 0 "depotd stops cleanly"
forget_pid "$DPID"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not restart"
DPID=$DEPOTD_PID
is "$(get "$P/index.yaml" stale2.yaml)" 200 "upstreams down, after a restart: the merged index answers 200"
check "after a restart: the same index" cmp "$T_DIR/before-stop.yaml" "$T_DIR/stale2.yaml"
is "$(header stale2.yaml ETag)" "$(header before-stop.yaml ETag)" "after a restart: the same ETag"
for c in gamma-1.0.0 epsilon-1.0.0; do
	code=$(curl -s -o "$T_DIR/dl.tgz" -w '%{http_code}' --max-time 60 "$P/charts/$c.tgz")
	is "$code $(sha256 "$T_DIR/dl.tgz")" "200 $(sha256 "$UA/$c.tgz")" \
	    "upstreams down, after a restart: the cached $c.tgz is served"
done
check "helm repo update works with the upstreams down" hm repo update proxy
like "$(hm search repo proxy/gamma 2>&1)" 'proxy/gamma[[:space:]]+1\.0\.0' "helm search repo still finds proxied charts"
rm -f "$T_DIR/pulled/gamma-1.0.0.tgz"
check "helm pull of a cached chart with the upstreams down" hm pull proxy/gamma --version 1.0.0 -d "$T_DIR/pulled"

# The upstream comes back: depot follows it again.
start_static up || bail "nginx (up) did not restart"
get "$P/index.yaml" back.yaml >/dev/null
check "upstream A back: the merged index is valid" index_valid "$T_DIR/back.yaml"

# Hostile upstream entries: one without a digest whose URL is an internal
# address (depot would relay whatever it answers), one with a field Helm
# cannot read (it would break the whole merged index), one whose name is
# not its key. Each is left out; the rest of the index stays.
i=$T_DIR/www-up/stable/index.yaml
cp "$i" "$T_DIR/index-a.good"
"$HELM_PY" -c '
import sys, yaml
p, url = sys.argv[1], sys.argv[2]
d = yaml.safe_load(open(p))
e = d["entries"]
e["ssrf"] = [{"apiVersion": "v2", "name": "ssrf", "version": "1.0.0", "urls": [url]}]
e["typed"] = [{"apiVersion": "v2", "name": "typed", "version": "1.0.0",
               "digest": "1" * 64, "description": ["a", "b"], "urls": ["typed-1.0.0.tgz"]}]
e["named"] = [{"apiVersion": "v2", "name": "other", "version": "1.0.0",
               "digest": "1" * 64, "urls": ["named-1.0.0.tgz"]}]
yaml.safe_dump(d, open(p, "w"))
' "$i" "http://127.0.0.1:$UPP/stable/alpha-1.0.0.tgz" || bail "could not write the hostile index"
# refreshed_past PATTERN N: GET the merged index (to hostile.yaml) until
# depotd's log has more than N lines matching PATTERN (a refresh).
refreshed_past() {
	get "$P/index.yaml" hostile.yaml >/dev/null
	[ "$(grep -c -E "$1" "$DLOG")" -gt "$2" ]
}
check "hostile upstream entries: depotd refreshes and logs the left-out entries" \
    t_wait_for -t 30 refreshed_past 'entries left out' "$(grep -c 'entries left out' "$DLOG")"
check "hostile upstream entries: the merged index is valid (python3-yaml and helm)" \
    index_valid "$T_DIR/hostile.yaml"
is "$(grep -c -E '^  (ssrf|typed|named|other):' "$T_DIR/hostile.yaml")" 0 \
    "entries without a digest, of a wrong field type or named unlike their key are left out"
like "$(grep -c -E '^  (alpha|gamma):' "$T_DIR/hostile.yaml")" '^2$' "the good entries stay"
is "$(http_status "$P/charts/ssrf-1.0.0.tgz")" 404 \
    "a chart without a digest upstream is not fetched from its URL"
# An index depot refuses shows in the upstream's health.
printf 'apiVersion: v1\nentries:\n  \377bad: []\n' >"$i"
check "an upstream index of invalid UTF-8 is refused" \
    t_wait_for -t 30 refreshed_past 'index.yaml refused' "$(grep -c 'index.yaml refused' "$DLOG")"
curl -s --max-time 20 -o "$T_DIR/upa.json" "$base/api/v1/upstreams/upa"
like "$(jq -r '.health.last_error // empty' "$T_DIR/upa.json")" 'index.yaml refused' \
    "a refused upstream index is the upstream's last_error"
like "$(jq -r '.health.state' "$T_DIR/upa.json")" '^(failing|open)$' \
    "a refused upstream index makes its health not ok"
cp "$T_DIR/index-a.good" "$i"
is "$(alive "$DPID")" yes "depotd is still running"
