#!/bin/sh
# helm_hosted.sh: hosted Helm chart repositories (/helm/<registry>/).
# Charts made with `helm create` and `helm package` (several names, SemVer
# versions with pre-releases) are uploaded through the ChartMuseum API
# (raw body and multipart with a provenance file; 201, 409, ?force), listed
# (GET/HEAD /api/charts...), downloaded (.tgz, .prov) and deleted; every kind
# of bad chart is refused with 400 and leaves nothing behind, an oversized
# one 413. index.yaml is checked with python3-yaml (sorted by name, newest
# SemVer first, digests, URLs) and with the real helm client (repo add,
# update, search, pull, template), with ETag / If-None-Match,
# Last-Modified and gzip. OCI charts (helm push/pull oci://) go through a
# docker registry. A second depotd with users checks read and write lists
# (Basic auth, helm repo add --username/--password). The lines of
# `depotctl setup-client` are run as printed.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "$DEPOT_SRCDIR/tests/regress/helm_lib.sh"

helm_init
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"

MAXCHART=262144

# --- depotd A: no users; two helm registries and a docker one.
port=$(free_port)
base="http://127.0.0.1:$port"
H="$base/helm/charts"
helm_conf "$T_DIR/depot.conf" "$port" "max_chart_size = $MAXCHART;" '
registries = (
  { name = "docker-local"; type = "docker"; },
  { name = "charts"; type = "helm"; description = "hosted charts"; },
  { name = "charts2"; type = "helm"; }
);'
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
DPID=$DEPOTD_PID

# blob_count: committed blobs in depotd A's store.
blob_count() {
	find "$T_DIR/data-$port/blobs" -type f 2>/dev/null | wc -l
}
# tmp_empty: no temp file left in the store.
tmp_empty() {
	[ -z "$(find "$T_DIR/data-$port/tmp" -type f 2>/dev/null)" ]
}
# post_raw URL FILE [curl args]: POST FILE as the body; prints the status,
# the answer body goes to $T_DIR/post.out.
post_raw() {
	local url=$1 f=$2
	shift 2
	curl -s -o "$T_DIR/post.out" -w '%{http_code}' --max-time 30 -X POST \
	    -H 'Content-Type: application/gzip' --data-binary "@$f" "$@" "$url"
}
# post_form URL [curl -F args]: a multipart/form-data POST; as post_raw.
post_form() {
	local url=$1
	shift
	curl -s -o "$T_DIR/post.out" -w '%{http_code}' --max-time 30 "$@" "$url"
}
# get_index NAME [URL]: GET the index into $T_DIR/NAME.yaml (headers in
# NAME.h); prints the status.
get_index() {
	curl -s -D "$T_DIR/$1.h" -o "$T_DIR/$1.yaml" -w '%{http_code}' \
	    --max-time 30 "${2:-$H/index.yaml}"
}
# header NAME FIELD: a header of a saved answer (case-insensitive name).
header() {
	tr -d '\r' <"$T_DIR/$1.h" | awk -v f="$2" '
	    BEGIN { f = tolower(f) ":" }
	    tolower($1) == f { sub(/^[^:]*:[ \t]*/, ""); v = $0 }
	    END { print v }'
}

# --- charts
mk() {
	make_chart "$@" >/dev/null || bail "helm could not make chart $1 $2"
}
for v in 0.1.0 0.2.0 0.10.0 1.0.0-alpha 1.0.0-alpha.1 1.0.0-rc.1 1.0.0; do
	mk alpha "$v"
done
mk beta 1.9.0
mk beta 2.0.0-rc.1
mk zeta 1.0.0
mk mid-chart 3.1.4
mk setup 0.1.0
C=$T_DIR/charts
printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nalpha-1.0.0.tgz provenance for the depot tests\n-----BEGIN PGP SIGNATURE-----\nZGVwb3Q=\n-----END PGP SIGNATURE-----\n' \
    >"$T_DIR/alpha-1.0.0.tgz.prov"

# --- an empty repository
is "$(get_index empty)" 200 "GET index.yaml of an empty helm registry answers 200"
check "the empty index is a valid index (python3-yaml and helm)" index_valid "$T_DIR/empty.yaml" --sorted
is "$(http_status "$H/charts/alpha-1.0.0.tgz")" 404 "an absent chart is 404"
is "$(http_status "$base/helm/nosuch/index.yaml")" 404 "an unknown helm registry is 404"
is "$(http_status "$base/helm/docker-local/index.yaml")" 404 \
    "a docker registry has no helm index (404)"

# --- uploads: raw bodies, in no particular order
blobs0=$(blob_count)
for f in zeta-1.0.0 alpha-0.10.0 beta-2.0.0-rc.1 alpha-0.1.0 mid-chart-3.1.4 \
    alpha-1.0.0-rc.1 alpha-0.2.0 beta-1.9.0 alpha-1.0.0-alpha.1 alpha-1.0.0-alpha; do
	code=$(post_raw "$H/api/charts" "$C/$f.tgz")
	[ "$code" = 201 ] || break
done
is "$code" 201 "ten charts uploaded as raw bodies answer 201 (last: $f)"
is "$(jq -r '.saved // empty' "$T_DIR/post.out" 2>/dev/null)" true \
    "the upload answer is ChartMuseum's {\"saved\":true}"
is "$(blob_count)" $((blobs0 + 10)) "each chart is one blob in the blob store"

# multipart with a provenance file
code=$(post_form "$H/api/charts" -F "chart=@$C/alpha-1.0.0.tgz" \
    -F "prov=@$T_DIR/alpha-1.0.0.tgz.prov")
is "$code" 201 "a multipart upload (chart + prov) answers 201"

# The same version again: 409, raw or multipart, and nothing changes.
get_index before409 >/dev/null
is "$(post_raw "$H/api/charts" "$C/alpha-0.1.0.tgz")" 409 \
    "uploading an existing version again answers 409 (raw)"
like "$(cat "$T_DIR/post.out")" '"error"' "the 409 carries an error message"
is "$(post_form "$H/api/charts" -F "chart=@$C/alpha-1.0.0.tgz")" 409 \
    "uploading an existing version again answers 409 (multipart)"
get_index after409 >/dev/null
check "a refused duplicate leaves index.yaml unchanged" \
    cmp "$T_DIR/before409.yaml" "$T_DIR/after409.yaml"

# --- downloads
for f in zeta-1.0.0 alpha-0.10.0 alpha-1.0.0 beta-2.0.0-rc.1; do
	curl -s -f --max-time 30 -o "$T_DIR/dl.tgz" "$H/charts/$f.tgz" &&
	    cmp -s "$T_DIR/dl.tgz" "$C/$f.tgz" || break
	f=ok
done
is "$f" ok "downloaded charts are the uploaded bytes"
curl -s --max-time 30 -o "$T_DIR/dl.prov" "$H/charts/alpha-1.0.0.tgz.prov"
check "the provenance file downloads as uploaded" cmp "$T_DIR/dl.prov" "$T_DIR/alpha-1.0.0.tgz.prov"
is "$(http_status "$H/charts/zeta-1.0.0.tgz.prov")" 404 "a chart without provenance has no .prov (404)"
is "$(http_status "$H/charts/zeta-1.0.0.tgz" -I)" 200 "HEAD of a chart answers 200"
is "$(http_status "$H/charts/zeta-9.9.9.tgz" -I)" 404 "HEAD of an absent chart answers 404"
is "$(http_status "$H/index.yaml" -I)" 200 "HEAD of index.yaml answers 200"

# --- the index
is "$(get_index idx)" 200 "GET index.yaml answers 200"
check "index.yaml is a valid index, sorted by name, newest SemVer first (python3-yaml and helm)" \
    index_valid "$T_DIR/idx.yaml" --sorted --base "$H/index.yaml"
index_check "$T_DIR/idx.yaml" --base "$H/index.yaml" >"$T_DIR/idx.lines" 2>/dev/null
is "$(awk '{ print $1 }' "$T_DIR/idx.lines" | uniq | tr '\n' ' ')" \
    "alpha beta mid-chart zeta " "the entries are sorted by name"
is "$(awk '$1 == "alpha" { print $2 }' "$T_DIR/idx.lines" | tr '\n' ' ')" \
    "1.0.0 1.0.0-rc.1 1.0.0-alpha.1 1.0.0-alpha 0.10.0 0.2.0 0.1.0 " \
    "alpha's versions are newest SemVer first (pre-releases below their release, 0.10.0 above 0.2.0)"
bad=""
while read -r n v d u; do
	[ "$d" = "$(sha256 "$C/$n-$v.tgz")" ] || bad="$bad $n-$v(digest)"
	[ "$u" = "$H/charts/$n-$v.tgz" ] || bad="$bad $n-$v($u)"
done <"$T_DIR/idx.lines"
is "$bad" "" "every digest is the sha256 of the .tgz; every URL resolves to /helm/charts/charts/NAME-VERSION.tgz"
is "$(wc -l <"$T_DIR/idx.lines" | tr -d ' ')" 11 "the index lists the 11 uploaded versions"
"$HELM_PY" -c '
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
e = d["entries"]["mid-chart"][0]
ok = (e.get("description", "").startswith("Chart mid-chart version 3.1.4") and
      e.get("appVersion") == "app-3.1.4" and e.get("apiVersion") == "v2" and
      e.get("type") == "application")
sys.exit(0 if ok else 1)' "$T_DIR/idx.yaml"
is "$?" 0 "entries carry the Chart.yaml fields (description, appVersion, apiVersion, type)"

etag=$(header idx ETag)
like "$etag" '^(W/)?".+"$' "index.yaml has an ETag"
like "$(header idx Last-Modified)" 'GMT$' "index.yaml has a Last-Modified date"
like "$(header idx Content-Type)" 'yaml' "index.yaml is served as YAML"
is "$(http_status "$H/index.yaml" -H "If-None-Match: $etag")" 304 \
    "If-None-Match with the ETag answers 304"
is "$(curl -s --max-time 10 -H "If-None-Match: $etag" "$H/index.yaml" | wc -c | tr -d ' ')" 0 \
    "the 304 has no body"
is "$(http_status "$H/index.yaml" -H 'If-None-Match: "other"')" 200 \
    "If-None-Match with another ETag answers 200"
is "$(http_status "$H/index.yaml" -H "If-Modified-Since: $(header idx Last-Modified)")" 304 \
    "If-Modified-Since with the Last-Modified date answers 304"
is "$(http_status "$H/index.yaml" -H "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT")" 200 \
    "If-Modified-Since with an older date answers 200"
curl -s --max-time 30 -H 'Accept-Encoding: gzip' -D "$T_DIR/gz.h" -o "$T_DIR/idx.gz" "$H/index.yaml"
is "$(header gz Content-Encoding)" gzip "index.yaml is gzip-encoded when the client accepts gzip"
check "the gzip-encoded index is the same index" sh -c \
    "gzip -dc '$T_DIR/idx.gz' | cmp - '$T_DIR/idx.yaml'"
like "$(header gz Vary)" '[Aa]ccept-[Ee]ncoding' "the answer says Vary: Accept-Encoding"
is "$(curl -s --max-time 30 -H 'Accept-Encoding: identity' -D "$T_DIR/id.h" "$H/index.yaml" |
    cmp - "$T_DIR/idx.yaml" && header id Content-Encoding)" "" \
    "without gzip in Accept-Encoding, the index is plain"

# --- ChartMuseum listing API
curl -s --max-time 30 -o "$T_DIR/all.json" "$H/api/charts"
is "$(jq -r 'keys | join(" ")' "$T_DIR/all.json" 2>/dev/null)" "alpha beta mid-chart zeta" \
    "GET /api/charts lists every chart name"
is "$(jq -r '.alpha | map(.version) | join(" ")' "$T_DIR/all.json" 2>/dev/null)" \
    "1.0.0 1.0.0-rc.1 1.0.0-alpha.1 1.0.0-alpha 0.10.0 0.2.0 0.1.0" \
    "GET /api/charts lists alpha's versions newest first"
curl -s --max-time 30 -o "$T_DIR/alpha.json" "$H/api/charts/alpha"
is "$(jq -r 'length' "$T_DIR/alpha.json" 2>/dev/null)" 7 "GET /api/charts/alpha lists its 7 versions"
curl -s --max-time 30 -o "$T_DIR/one.json" "$H/api/charts/alpha/0.10.0"
is "$(jq -r '.name + " " + .version + " " + .digest' "$T_DIR/one.json" 2>/dev/null)" \
    "alpha 0.10.0 $(sha256 "$C/alpha-0.10.0.tgz")" \
    "GET /api/charts/alpha/0.10.0 is that version with its digest"
like "$(jq -r '.urls[0]' "$T_DIR/one.json" 2>/dev/null)" 'charts/alpha-0\.10\.0\.tgz$' \
    "the listed version has its download URL"
is "$(http_status "$H/api/charts/nosuch")" 404 "GET /api/charts/<unknown name> answers 404"
is "$(http_status "$H/api/charts/alpha/9.9.9")" 404 "GET /api/charts/alpha/<unknown version> answers 404"
is "$(http_status "$H/api/charts/alpha" -I)" 200 "HEAD /api/charts/alpha answers 200"
is "$(http_status "$H/api/charts/alpha/0.1.0" -I)" 200 "HEAD /api/charts/alpha/0.1.0 answers 200"
is "$(http_status "$H/api/charts/alpha/9.9.9" -I)" 404 "HEAD of an absent version answers 404"
is "$(http_status "$H/api/charts/nosuch" -I)" 404 "HEAD of an absent chart answers 404"

# --- ?force overwrites
src=$T_DIR/src/alpha-0.1.0/alpha
echo "forced: true" >>"$src/values.yaml"
mkdir -p "$T_DIR/forced"
hm package "$src" --version 0.1.0 -d "$T_DIR/forced" >/dev/null || bail "helm package failed"
F=$T_DIR/forced/alpha-0.1.0.tgz
is "$(post_raw "$H/api/charts" "$F")" 409 "different bytes for an existing version: 409 without ?force"
code=$(post_raw "$H/api/charts?force" "$F")
like "$code" '^20[01]$' "?force overwrites an existing version (201)"
curl -s --max-time 30 -o "$T_DIR/dl.tgz" "$H/charts/alpha-0.1.0.tgz"
check "the download is the forced chart" cmp "$T_DIR/dl.tgz" "$F"
get_index forced >/dev/null
check "the index after ?force is valid (python3-yaml and helm)" index_valid "$T_DIR/forced.yaml" --sorted
is "$(index_check "$T_DIR/forced.yaml" 2>/dev/null | awk '$1 == "alpha" && $2 == "0.1.0" { print $3 }')" \
    "$(sha256 "$F")" "the index has the forced chart's digest"
like "$(header forced ETag)" '.' "the index still has an ETag"
[ "$(header forced ETag)" != "$etag" ]
is "$?" 0 "the ETag changed with the content"
is "$(http_status "$H/index.yaml" -H "If-None-Match: $etag")" 200 "the old ETag no longer answers 304"
code=$(post_form "$H/api/charts?force=true" -F "chart=@$C/alpha-0.1.0.tgz")
like "$code" '^20[01]$' "?force=true with multipart overwrites too"
curl -s --max-time 30 -o "$T_DIR/dl.tgz" "$H/charts/alpha-0.1.0.tgz"
check "the download is the original chart again" cmp "$T_DIR/dl.tgz" "$C/alpha-0.1.0.tgz"

# --- bad charts: 400 with a message, nothing stored
get_index beforebad >/dev/null
blobs1=$(blob_count)
for kind in notgzip nottar nochart badyaml notmap noname badname badversion \
    fourpart noversion ok; do
	"$HELM_PY" "$HELM_INDEX" badchart "$kind" "$T_DIR/bad-$kind.tgz" ||
	    bail "could not make the $kind chart"
done
for kind in notgzip nottar nochart badyaml notmap noname badname badversion fourpart noversion; do
	code=$(post_raw "$H/api/charts" "$T_DIR/bad-$kind.tgz")
	is "$code" 400 "a bad chart ($kind) is refused with 400 (raw body)"
	like "$(jq -r '.error // empty' "$T_DIR/post.out" 2>/dev/null)" '[a-zA-Z]{4}' \
	    "the 400 for $kind has a JSON error message"
done
is "$(post_form "$H/api/charts" -F "chart=@$T_DIR/bad-badyaml.tgz;filename=okchart-0.1.0.tgz")" 400 \
    "a bad chart (badyaml) is refused with 400 (multipart)"
is "$(post_form "$H/api/charts" -F "chart=@$T_DIR/bad-ok.tgz;filename=other-0.1.0.tgz")" 400 \
    "a chart whose name disagrees with its file name is refused with 400"
is "$(post_form "$H/api/charts" -F "chart=@$T_DIR/bad-ok.tgz;filename=okchart-0.2.0.tgz")" 400 \
    "a chart whose version disagrees with its file name is refused with 400"
is "$(post_form "$H/api/charts" -F "prov=@$T_DIR/alpha-1.0.0.tgz.prov")" 400 \
    "a multipart upload without a chart field is refused with 400"
is "$(post_raw "$H/api/charts" /dev/null)" 400 "an empty body is refused with 400"
# Chart.yaml fields of the wrong type (Helm could not read the index), a
# NUL byte, and a small archive that unpacks to more than 100 MiB.
"$HELM_PY" -c '
import io, sys, tarfile
def tgz(out, files):
    with tarfile.open(out, "w:gz") as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data) if isinstance(data, bytes) else data[1]
            t.addfile(ti, io.BytesIO(data) if isinstance(data, bytes) else data[0])
class Zero(io.RawIOBase):
    def readinto(self, b):
        b[:] = bytes(len(b))
        return len(b)
d = sys.argv[1]
head = b"apiVersion: v2\nname: typed\nversion: 0.1.0\n"
for kind, extra in (("desclist", b"description: [a, b]\n"),
                    ("appmap", b"appVersion: {x: 1}\n"),
                    ("pytag", b"description: !!python/object/apply:os.system [\"id\"]\n"),
                    ("kwstr", b"keywords: x\n"),
                    ("maint", b"maintainers: 5\n"),
                    ("nul", b"description: \"a\\0b\"\n")):
    tgz("%s/type-%s.tgz" % (d, kind), [("typed/Chart.yaml", head + extra)])
tgz(d + "/type-bomb.tgz", [("typed/Chart.yaml", head),
                           ("typed/zero.bin", (Zero(), 101 * 1024 * 1024))])
' "$T_DIR" || bail "could not make the typed charts"
for kind in desclist appmap pytag kwstr maint; do
	field=$(case $kind in desclist|pytag) echo description;; appmap) echo appVersion;;
	    kwstr) echo keywords;; maint) echo maintainers;; esac)
	is "$(post_raw "$H/api/charts" "$T_DIR/type-$kind.tgz")" 400 \
	    "a chart with a wrongly typed field ($kind) is refused with 400"
	like "$(jq -r '.error // empty' "$T_DIR/post.out" 2>/dev/null)" "$field" \
	    "the 400 for $kind names the field $field"
done
is "$(post_raw "$H/api/charts" "$T_DIR/type-nul.tgz")" 400 \
    "a chart with a NUL byte in a Chart.yaml value is refused with 400"
is "$(post_raw "$H/api/charts" "$T_DIR/type-bomb.tgz")" 400 \
    "a small chart archive that unpacks to more than 100 MiB is refused with 400"
like "$(jq -r '.error // empty' "$T_DIR/post.out" 2>/dev/null)" 'unpacked' \
    "the 400 for the unpacking bomb says why"
get_index afterbad >/dev/null
check "after the bad uploads index.yaml is unchanged" cmp "$T_DIR/beforebad.yaml" "$T_DIR/afterbad.yaml"
is "$(header afterbad ETag)" "$(header beforebad ETag)" "after the bad uploads the ETag is unchanged"
is "$(blob_count)" "$blobs1" "no bad upload left a blob"
check "no bad upload left a temp file" t_wait_for -t 10 tmp_empty
is "$(http_status "$H/api/charts/okchart")" 404 "no bad upload is listed"
# The control: the same tool's good chart is accepted.
is "$(post_form "$H/api/charts" -F "chart=@$T_DIR/bad-ok.tgz;filename=okchart-0.1.0.tgz")" 201 \
    "the tool's good chart with the right file name is accepted (control)"
is "$(http_status "$H/api/charts/okchart/0.1.0" -X DELETE)" 200 "and deleted again"

# --- oversize: 413
mkdir -p "$T_DIR/src/huge"
hm create "$T_DIR/src/huge/huge" >/dev/null
mkdir -p "$T_DIR/src/huge/huge/files"
head -c $((MAXCHART + 65536)) /dev/urandom >"$T_DIR/src/huge/huge/files/random.bin"
hm package "$T_DIR/src/huge/huge" --version 1.0.0 -d "$T_DIR/src/huge" >/dev/null ||
    bail "helm package failed"
is "$(post_raw "$H/api/charts" "$T_DIR/src/huge/huge-1.0.0.tgz")" 413 \
    "a chart over server.max_chart_size is refused with 413 (raw)"
is "$(post_form "$H/api/charts" -F "chart=@$T_DIR/src/huge/huge-1.0.0.tgz")" 413 \
    "a chart over server.max_chart_size is refused with 413 (multipart)"
is "$(http_status "$H/api/charts/huge")" 404 "the oversized chart is not stored"
is "$(alive "$DPID")" yes "depotd is still running"

# --- delete
is "$(http_status "$H/api/charts/alpha/0.2.0" -X DELETE)" 200 "DELETE /api/charts/alpha/0.2.0 answers 200"
is "$(http_status "$H/api/charts/alpha/0.2.0" -X DELETE)" 404 "deleting it again answers 404"
is "$(http_status "$H/charts/alpha-0.2.0.tgz")" 404 "the deleted chart no longer downloads"
is "$(http_status "$H/api/charts/alpha/0.2.0")" 404 "the deleted chart is no longer listed"
is "$(http_status "$H/api/charts/alpha/0.1.0" -X DELETE)" 200 "another version deletes"
is "$(post_raw "$H/api/charts" "$C/alpha-0.1.0.tgz")" 201 "a deleted version can be uploaded again"
get_index afterdel >/dev/null
check "the index after the deletes is valid and sorted (python3-yaml and helm)" \
    index_valid "$T_DIR/afterdel.yaml" --sorted
is "$(index_check "$T_DIR/afterdel.yaml" | awk '$1 == "alpha" { print $2 }' | tr '\n' ' ')" \
    "1.0.0 1.0.0-rc.1 1.0.0-alpha.1 1.0.0-alpha 0.10.0 0.1.0 " \
    "the index no longer lists the deleted version"
like "$(http_status "$H/api/charts/alpha" -X DELETE)" '^40[45]$' \
    "DELETE of a whole chart (no version) is refused (404 or 405)"

# --- deduplication: the same chart in another registry is the same blob
blobs2=$(blob_count)
is "$(post_raw "$base/helm/charts2/api/charts" "$C/zeta-1.0.0.tgz")" 201 "the same chart uploads to a second registry"
is "$(blob_count)" "$blobs2" "the second copy is the same blob (deduplicated)"
get_index c2 "$base/helm/charts2/index.yaml" >/dev/null
is "$(index_check "$T_DIR/c2.yaml" | awk '{ print $1, $2 }')" "zeta 1.0.0" \
    "each registry has its own index"
check "helm reads it" helm_reads "$T_DIR/c2.yaml"

# --- the helm client
check "helm repo add of the hosted repository" hm repo add charts "$H"
check "helm repo update" hm repo update charts
check "helm's cached index is the served index" \
    cmp "$HELM_REPOSITORY_CACHE/charts-index.yaml" "$T_DIR/afterdel.yaml"
hm search repo charts/ >"$T_DIR/search.out" 2>&1
like "$(cat "$T_DIR/search.out")" 'charts/alpha[[:space:]]+1\.0\.0[[:space:]]' \
    "helm search repo shows alpha's newest release 1.0.0"
like "$(cat "$T_DIR/search.out")" 'charts/beta[[:space:]]+1\.9\.0[[:space:]]' \
    "helm search repo shows beta 1.9.0 (not the pre-release)"
like "$(hm search repo charts/beta --devel 2>&1)" 'charts/beta[[:space:]]+2\.0\.0-rc\.1' \
    "helm search repo --devel shows beta 2.0.0-rc.1"
is "$(hm search repo charts/alpha --versions --devel 2>/dev/null | awk 'NR > 1 { print $2 }' | tr '\n' ' ')" \
    "1.0.0 1.0.0-rc.1 1.0.0-alpha.1 1.0.0-alpha 0.10.0 0.1.0 " \
    "helm search repo --versions lists every version"
mkdir -p "$T_DIR/pulled"
check "helm pull charts/alpha --version 1.0.0-rc.1" \
    hm pull charts/alpha --version 1.0.0-rc.1 -d "$T_DIR/pulled"
check "the pulled chart is the uploaded file" \
    cmp "$T_DIR/pulled/alpha-1.0.0-rc.1.tgz" "$C/alpha-1.0.0-rc.1.tgz"
check "helm pull charts/mid-chart (latest)" hm pull charts/mid-chart -d "$T_DIR/pulled"
hm template rel "$T_DIR/pulled/mid-chart-3.1.4.tgz" >"$T_DIR/template.out" 2>&1
is "$?" 0 "helm template renders the pulled chart"
like "$(cat "$T_DIR/template.out")" 'kind: Deployment' "the rendered chart has its Deployment"
check "helm pull --prov downloads a chart with its provenance file" \
    hm pull charts/alpha --version 1.0.0 --prov -d "$T_DIR/pulled"
check "the provenance file helm pulled is the uploaded one" \
    cmp "$T_DIR/pulled/alpha-1.0.0.tgz.prov" "$T_DIR/alpha-1.0.0.tgz.prov"

# --- OCI charts through the docker registry
out=$(hm push "$C/alpha-1.0.0.tgz" "oci://127.0.0.1:$port/docker-local" --plain-http 2>&1)
is "$?" 0 "helm push oci:// into a docker registry"
like "$out" 'Digest: sha256:[0-9a-f]{64}' "helm push prints the manifest digest"
mkdir -p "$T_DIR/oci"
check "helm pull oci:// of that chart" \
    hm pull "oci://127.0.0.1:$port/docker-local/alpha" --version 1.0.0 --plain-http -d "$T_DIR/oci"
check "the chart pulled over OCI is the pushed file" cmp "$T_DIR/oci/alpha-1.0.0.tgz" "$C/alpha-1.0.0.tgz"
like "$(hm show chart "oci://127.0.0.1:$port/docker-local/alpha" --version 1.0.0 --plain-http 2>&1)" \
    '^name: alpha|[[:space:]]name: alpha' "helm show chart oci:// reads the chart's metadata"

# --- restart: the index and charts persist
get_index beforerestart >/dev/null
stop_depotd "$DPID"
is "$?" 0 "depotd stops cleanly"
forget_pid "$DPID"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not restart"
DPID=$DEPOTD_PID
get_index afterrestart >/dev/null
check "after a restart index.yaml is the same" cmp "$T_DIR/beforerestart.yaml" "$T_DIR/afterrestart.yaml"
is "$(header afterrestart ETag)" "$(header beforerestart ETag)" "after a restart the ETag is the same"

# --- depotctl setup-client, run as printed
run_setup "$T_DIR/depot.conf" charts "" "" alpha 1.0.0 >"$T_DIR/setup.log" 2>&1
rc=$?
sed -n 's/^# \$ /# ran: /p' "$T_DIR/setup.log"
is "$rc" 0 "the lines of depotctl setup-client charts work as printed"
grep -q 'helm repo add charts ' "$T_DIR/setup.log"
is "$?" 0 "setup-client printed a helm repo add line"
is "$(http_status "$H/api/charts/setup/0.1.0")" 404 \
    "the printed upload and delete lines ran (setup 0.1.0 uploaded, then deleted)"
like "$(grep -c '"POST /helm/charts/api/charts" 201' "$T_DIR/access-$port.log")" '^[1-9]' \
    "the access log has the chart uploads"

# --- depotd B: users, read and write lists
{
	htpasswd -Bbn alice alice-pw && htpasswd -Bbn bob bob-pw
} 2>/dev/null | grep -v '^$' >"$T_DIR/htpasswd"
chmod 600 "$T_DIR/htpasswd"
aport=$(free_port)
A="http://127.0.0.1:$aport/helm"
cat >"$T_DIR/auth.conf" <<EOC
server = {
  listen = [ "127.0.0.1:$aport" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$aport.pid";
  data_dir = "$T_DIR/data-$aport";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$aport.log"; };
};
auth = {
  users_file = "$T_DIR/htpasswd";
  token_key_file = "$T_DIR/token.key";
  token_cert_file = "$T_DIR/token.crt";
};
registries = (
  { name = "private"; type = "helm"; read = [ "alice" ]; write = [ "alice" ]; },
  { name = "public"; type = "helm"; read = [ "anonymous" ]; write = [ "alice" ]; },
  { name = "team"; type = "helm"; }
);
EOC
start_depotd "$T_DIR/auth.conf" "$aport" || bail "depotd with users did not start"
APID=$DEPOTD_PID
AL="-u alice:alice-pw"
BO="-u bob:bob-pw"

is "$(http_status "$A/private/index.yaml")" 401 "private: anonymous GET index.yaml answers 401"
like "$(curl -s -D - -o /dev/null --max-time 10 "$A/private/index.yaml" | tr -d '\r')" \
    '^[Ww][Ww][Ww]-[Aa]uthenticate: Basic ' "the 401 offers Basic auth (what helm answers)"
is "$(http_status "$A/private/index.yaml" -u alice:wrong-pw)" 401 "private: a wrong password answers 401"
is "$(http_status "$A/private/index.yaml" $BO)" 404 "private: bob (not on the read list) gets 404, as for an unknown registry"
is "$(http_status "$A/private/index.yaml" $AL)" 200 "private: alice reads index.yaml"
is "$(post_raw "$A/private/api/charts" "$C/zeta-1.0.0.tgz")" 401 "private: anonymous upload answers 401"
is "$(post_raw "$A/private/api/charts" "$C/zeta-1.0.0.tgz" $BO)" 404 "private: bob's upload answers 404 (he may not read it)"
is "$(post_raw "$A/private/api/charts" "$C/zeta-1.0.0.tgz" $AL)" 201 "private: alice uploads (201)"
is "$(post_raw "$A/private/api/charts" "$C/alpha-1.0.0.tgz" $AL)" 201 "private: alice uploads a second chart"
is "$(http_status "$A/private/charts/zeta-1.0.0.tgz")" 401 "private: anonymous chart download answers 401"
is "$(http_status "$A/private/charts/zeta-1.0.0.tgz" $BO)" 404 "private: bob's chart download answers 404"
is "$(http_status "$A/private/charts/zeta-1.0.0.tgz" $AL)" 200 "private: alice downloads the chart"
is "$(http_status "$A/private/api/charts" $BO)" 404 "private: bob cannot list /api/charts (404)"
is "$(http_status "$A/private/api/charts/zeta/1.0.0" -X DELETE $BO)" 404 "private: bob cannot delete (404)"
is "$(http_status "$A/private/api/charts/zeta/1.0.0" -X DELETE)" 401 "private: anonymous cannot delete (401)"

is "$(post_raw "$A/public/api/charts" "$C/beta-1.9.0.tgz")" 401 "public: anonymous upload answers 401"
is "$(post_raw "$A/public/api/charts" "$C/beta-1.9.0.tgz" $BO)" 403 "public: bob's upload answers 403"
is "$(post_raw "$A/public/api/charts" "$C/beta-1.9.0.tgz" $AL)" 201 "public: alice uploads"
is "$(http_status "$A/public/index.yaml")" 200 "public: anonymous reads index.yaml"
is "$(http_status "$A/public/charts/beta-1.9.0.tgz")" 200 "public: anonymous downloads the chart"
is "$(http_status "$A/public/api/charts/beta/1.9.0" -X DELETE)" 401 "public: anonymous cannot delete"
is "$(http_status "$A/public/api/charts/beta/1.9.0" -X DELETE $BO)" 403 "public: bob (may read, not write) cannot delete (403)"

is "$(http_status "$A/team/index.yaml")" 401 "team (default lists): anonymous is denied once users exist"
is "$(post_raw "$A/team/api/charts" "$C/zeta-1.0.0.tgz" $BO)" 201 "team: any signed-in user uploads"
is "$(http_status "$A/team/index.yaml" $AL)" 200 "team: any signed-in user reads"

check "helm repo add --username --password of a private repository" \
    hm repo add private "$A/private" --username alice --password alice-pw
check "helm repo update of the private repository" hm repo update private
like "$(hm search repo private/ 2>&1)" 'private/zeta[[:space:]]+1\.0\.0' \
    "helm search repo finds the private chart"
mkdir -p "$T_DIR/privpull"
check "helm pull of a private chart sends the credentials" \
    hm pull private/zeta --version 1.0.0 -d "$T_DIR/privpull"
check "the private chart pulled by helm is the uploaded file" \
    cmp "$T_DIR/privpull/zeta-1.0.0.tgz" "$C/zeta-1.0.0.tgz"
hm repo add noauth "$A/private" >"$T_DIR/noauth.out" 2>&1
rc=$?
[ "$rc" -ne 0 ]
is "$?" 0 "helm repo add without credentials fails on a private repository"
hm repo add badpw "$A/private" --username alice --password nope >"$T_DIR/badpw.out" 2>&1
[ "$?" -ne 0 ]
is "$?" 0 "helm repo add with a wrong password fails"
check "helm repo add of the public repository without credentials" hm repo add public "$A/public"

run_setup "$T_DIR/auth.conf" private alice alice-pw zeta 1.0.0 >"$T_DIR/setup-auth.log" 2>&1
rc=$?
sed -n 's/^# \$ /# ran: /p' "$T_DIR/setup-auth.log" | sed 's/alice-pw/***/g'
is "$rc" 0 "the lines of depotctl setup-client private (with users) work as printed"
like "$(cat "$T_DIR/setup-private.out")" 'helm repo add private .*--username' \
    "with users, the printed helm repo add line asks for a user name"
if grep -q 'alice-pw' "$T_DIR"/depotd-*.log "$T_DIR"/access-*.log 2>/dev/null; then
	not_ok "no password appears in depotd's logs"
else
	ok "no password appears in depotd's logs"
fi
is "$(alive "$APID")" yes "depotd with users is still running"
