#!/bin/sh
# gc.sh: garbage collection end to end, with a real depotd, skopeo and
# curl: two images that share layers, one deleted: depotctl gc (after a
# --dry-run that frees nothing) frees exactly the blobs of the deleted
# one and the other still pulls back byte for byte; the children of a
# multi-arch index, a referrer of a kept subject and a hosted Helm chart
# are kept; a push running while gc runs in a loop completes and pulls
# back verified; the periodic run of the master (gc_interval) frees
# garbage by itself and shows in /metrics.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"
MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"
command -v skopeo >/dev/null || skip_all "skopeo is not installed (scripts/deps test installs it)"
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
data="$T_DIR/data-$port"
conf="$T_DIR/depot.conf"

# write_gc_conf EXTRA: the test's configuration, with a docker and a
# helm registry and EXTRA server lines.
write_gc_conf() {
	cat >"$conf" <<EOC
server = {
  listen = [ "127.0.0.1:$port" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  request_timeout = 30;
  log = { syslog = false; level = "debug"; };
  $1
};
registries = (
  { name = "docker-local"; type = "docker"; },
  { name = "charts"; type = "helm"; }
);
EOC
}
write_gc_conf ""
start_depotd "$conf" "$port" || bail "depotd did not start"

sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}
push() {
	local src=$1 dest=$2
	shift 2
	sk copy -q --dest-tls-verify=false "$@" "oci:$src" "docker://$reg/$dest"
}
pull() {
	rm -rf "$2"
	sk copy -q --src-tls-verify=false "docker://$reg/$1" "oci:$2"
}
mkimage() {
	python3 "$MKIMAGE" "$@" >/dev/null || bail "mkimage.py $* failed"
}
dc() {
	"$DEPOTCTL" -c "$conf" "$@" </dev/null
}
# The hex digests of a layout's blobs, and of the blob files depot has.
layout_digests() {
	ls "$1/blobs/sha256" | sort
}
stored() {
	find "$data/blobs/sha256" -mindepth 2 -maxdepth 2 -type f |
	    awk -F/ '{ print $NF }' | sort
}
has_blob() {
	[ -f "$data/blobs/sha256/$(echo "$1" | cut -c1-2)/$1" ]
}
# subset A B: every line of file A is in file B.
subset() {
	[ -z "$(comm -23 "$1" "$2")" ]
}
# manifest_digest REPO REF: the digest depot answers for a manifest.
manifest_digest() {
	curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	    -H 'Accept: application/vnd.oci.image.index.v1+json' \
	    "$base/v2/$1/manifests/$2" |
	    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}
# freed OUTPUT: the number of blobs a gc run says it freed.
freed() {
	echo "$1" | sed -n 's/^\(would free\|freed\) \([0-9]*\) blob.*/\2/p'
}

# --- two images sharing two layers; b is deleted (by digest) ----------
mkimage "$T_DIR/a" --layers 3 --shared-layers 2 --shared-seed 7 --seed 1
mkimage "$T_DIR/b" --layers 3 --shared-layers 2 --shared-seed 7 --seed 2
check "push image a" push "$T_DIR/a:latest" docker-local/app:a
check "push image b, which shares two layers with a" \
    push "$T_DIR/b:latest" docker-local/app:b
layout_digests "$T_DIR/a" >"$T_DIR/a.list"
layout_digests "$T_DIR/b" >"$T_DIR/b.list"
comm -13 "$T_DIR/a.list" "$T_DIR/b.list" >"$T_DIR/b-only.list"
is "$(wc -l <"$T_DIR/b-only.list" | tr -d ' ')" 3 \
    "b has three blobs of its own (manifest, config, layer)"
db=$(manifest_digest docker-local/app b)
is "$(http_status "$base/v2/docker-local/app/manifests/$db" -X DELETE)" 202 \
    "DELETE of b's manifest by digest"
stored >"$T_DIR/before.list"

out=$(dc gc --dry-run --grace 0 2>&1)
is "$?:$(freed "$out")" "0:3" "gc --dry-run counts b's three blobs"
stored >"$T_DIR/after-dry.list"
check "gc --dry-run frees nothing" cmp "$T_DIR/before.list" \
    "$T_DIR/after-dry.list"

out=$(dc gc --grace 3600 2>&1)
is "$?:$(freed "$out")" "0:0" "gc keeps everything younger than the grace"

out=$(dc gc --grace 0 2>&1)
is "$?:$(freed "$out")" "0:3" "gc frees b's three blobs: $out"
stored >"$T_DIR/after.list"
check "exactly b's own blobs are gone" \
    sh -c "comm -23 '$T_DIR/before.list' '$T_DIR/after.list' |
    cmp - '$T_DIR/b-only.list'"
check "every blob of a is kept, the shared layers too" \
    subset "$T_DIR/a.list" "$T_DIR/after.list"
check "a pulls back after gc" pull docker-local/app:a "$T_DIR/a-back"
check "a pulled back byte for byte" \
    sh -c "layout_a=\$(ls '$T_DIR/a/blobs/sha256'); for h in \$layout_a; do
    cmp '$T_DIR/a/blobs/sha256/'\$h '$T_DIR/a-back/blobs/sha256/'\$h || exit 1; done"
is "$(http_status "$base/v2/docker-local/app/manifests/b")" 404 \
    "b is unknown"

# --- a multi-arch index: its children and their layers are kept --------
mkimage "$T_DIR/multi" --platforms linux/amd64,linux/arm64 --layers 2 \
    --seed 11
check "push a multi-arch image" push "$T_DIR/multi:latest" \
    docker-local/multi:latest --all
out=$(dc gc --grace 0 --untagged 2>&1)
check "gc --untagged runs: $out" test -n "$(freed "$out")"
layout_digests "$T_DIR/multi" >"$T_DIR/multi.list"
stored >"$T_DIR/after-multi.list"
check "the index's children and their blobs are kept (untagged)" \
    subset "$T_DIR/multi.list" "$T_DIR/after-multi.list"
is "$(manifest_digest docker-local/multi latest)" \
    "sha256:$(jq -r '.manifests[0].digest' "$T_DIR/multi/index.json" |
    cut -d: -f2)" "the tag still names the index"

# --- a referrer (signature-like artifact) of a kept subject ------------
da=$(manifest_digest docker-local/app a)
printf '{}' >"$T_DIR/empty.json"
ed="sha256:$(sha256sum <"$T_DIR/empty.json" | cut -d' ' -f1)"
is "$(http_status "$base/v2/docker-local/app/blobs/uploads/?digest=$ed" \
    -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T_DIR/empty.json")" 201 "upload the referrer's config"
cat >"$T_DIR/sig.json" <<EOJ
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$ed","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$ed","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$da","size":1}}
EOJ
ds="sha256:$(sha256sum <"$T_DIR/sig.json" | cut -d' ' -f1)"
is "$(http_status "$base/v2/docker-local/app/manifests/$ds" -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$T_DIR/sig.json")" 201 "push a referrer of a, untagged"
out=$(dc gc --grace 0 --untagged 2>&1)
check "gc --untagged: $out" test -n "$(freed "$out")"
check "the referrer of a kept subject is kept" has_blob "${ds#sha256:}"
like "$(curl -s "$base/v2/docker-local/app/referrers/$da")" "$ds" \
    "it is still listed among a's referrers"

# --- a hosted Helm chart ------------------------------------------------
mkdir -p "$T_DIR/chart/gcchart"
printf 'apiVersion: v2\nname: gcchart\nversion: 1.0.0\n' \
    >"$T_DIR/chart/gcchart/Chart.yaml"
tar -C "$T_DIR/chart" -czf "$T_DIR/gcchart-1.0.0.tgz" gcchart
is "$(http_status "$base/helm/charts/api/charts" -X POST \
    -H 'Content-Type: application/gzip' \
    --data-binary "@$T_DIR/gcchart-1.0.0.tgz")" 201 "upload a Helm chart"
out=$(dc gc --grace 0 --untagged 2>&1)
check "gc after the chart: $out" test -n "$(freed "$out")"
hc=$(sha256sum <"$T_DIR/gcchart-1.0.0.tgz" | cut -d' ' -f1)
check "the chart's blob is kept" has_blob "$hc"
check "the chart still downloads, unchanged" sh -c "curl -sf \
    '$base/helm/charts/charts/gcchart-1.0.0.tgz' | cmp - '$T_DIR/gcchart-1.0.0.tgz'"

# --- a push while gc runs in a loop -------------------------------------
# Garbage for the loop to find: c, pushed and deleted. The push of d runs
# in the background while depotctl gc (grace 5 s) runs again and again,
# until d is pushed and c's blobs are freed; a push slower than the grace
# may meet a sweep and fail cleanly (MANIFEST_BLOB_UNKNOWN): it is
# retried, bounded.
mkimage "$T_DIR/c" --layers 2 --seed 21
mkimage "$T_DIR/d" --layers 2 --seed 22
push "$T_DIR/c:latest" docker-local/churn:c || bail "cannot push c"
dcd=$(manifest_digest docker-local/churn c)
http_status "$base/v2/docker-local/churn/manifests/$dcd" -X DELETE >/dev/null
(
	i=0
	while [ $i -lt 10 ]; do
		if push "$T_DIR/d:latest" docker-local/churn:d; then
			echo pushed >"$T_DIR/d.done"
			exit 0
		fi
		i=$((i + 1))
	done
	echo failed >"$T_DIR/d.done"
) >"$T_DIR/d-push.log" 2>&1 &
pusher=$!
T_PIDS="$T_PIDS $pusher"
runs=0 total=0 bad=0
while [ $runs -lt 400 ]; do
	out=$(dc gc --grace 5 2>&1) || bad=$((bad + 1))
	n=$(freed "$out")
	total=$((total + ${n:-0}))
	runs=$((runs + 1))
	[ -f "$T_DIR/d.done" ] && [ "$total" -gt 0 ] && break
done
wait "$pusher"
is "$(cat "$T_DIR/d.done" 2>/dev/null)" pushed \
    "a push while gc ran $runs times completes"
is "$bad" 0 "every one of those gc runs succeeded"
check "the garbage was freed meanwhile ($total blobs)" test "$total" -gt 0
check "d pulls back after the loop" pull docker-local/churn:d "$T_DIR/d-back"
check "d pulled back byte for byte" sh -c "for h in \$(ls '$T_DIR/d/blobs/sha256'); do
    cmp '$T_DIR/d/blobs/sha256/'\$h '$T_DIR/d-back/blobs/sha256/'\$h || exit 1; done"

# --- the periodic run of the master -------------------------------------
# A short grace: the push of e must finish within it, or it meets a
# sweep and is refused cleanly (MANIFEST_BLOB_UNKNOWN); it is retried.
write_gc_conf "gc_interval = 1; gc_grace = 5;"
kill -HUP "$DEPOTD_PID"
t_wait_grep "configuration reloaded" "$T_DIR/depotd-$port.log" ||
	not_ok "depotd reloaded the configuration"
mkimage "$T_DIR/e" --layers 1 --seed 31
push "$T_DIR/e:latest" docker-local/periodic:e ||
	push "$T_DIR/e:latest" docker-local/periodic:e ||
	push "$T_DIR/e:latest" docker-local/periodic:e || bail "cannot push e"
de=$(manifest_digest docker-local/periodic e)
http_status "$base/v2/docker-local/periodic/manifests/$de" -X DELETE >/dev/null
check "the periodic gc removes the deleted manifest by itself" \
    t_wait_for sh -c "! test -f '$data/blobs/sha256/$(echo "${de#sha256:}" |
    cut -c1-2)/${de#sha256:}'"
check "it logs what it freed" t_wait_grep "gc: freed [1-9][0-9]* blob" \
    "$T_DIR/depotd-$port.log"
check "/metrics counts the runs and the bytes freed" t_wait_for sh -c \
    "curl -s '$base/metrics' | grep -Eq '^depot_gc_runs_total [1-9]' &&
    curl -s '$base/metrics' | grep -Eq '^depot_gc_freed_bytes_total [1-9]'"
check "a still pulls back" pull docker-local/app:a "$T_DIR/a-back3"
check "depotd stops cleanly with a periodic gc" stop_depotd "$DEPOTD_PID"

# --- usage -------------------------------------------------------------
dc gc --grace soon >/dev/null 2>&1
is "$?" 2 "a bad --grace is a usage error (2)"
dc gc --registry nosuch >/dev/null 2>&1
is "$?" 1 "an unknown --registry is refused (1)"
