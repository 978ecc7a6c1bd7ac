#!/bin/sh
# gc_hostile.sh: garbage collection and fsck under hostile timing, with a
# real depotd, depotctl and curl.
#  - a manifest PUT that lands while a gc --grace 0 is in its mark, in the
#    same second the run started, references blobs uploaded before the
#    run: the PUT succeeds and its blobs stay (the mark is held in place
#    by a manifest file replaced with a FIFO, which it waits to open);
#  - depotctl gc killed -9 in the middle of its mark: the next gc runs,
#    pulls and pushes go on, fsck is clean; stopped by SIGTERM, it stops
#    between two candidates and fails cleanly;
#  - a sha512 layer in a repository with a long many-slash name is kept
#    while tagged and freed once its manifest is deleted.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"

[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"
command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
command -v mkfifo >/dev/null || skip_all "mkfifo is not installed"
command -v sha512sum >/dev/null || skip_all "sha512sum is not installed"
[ -r "/proc/$$/wchan" ] || skip_all "no /proc/PID/wchan to see a process wait"

port=$(free_port)
base="http://127.0.0.1:$port"
data="$T_DIR/data-$port"
conf="$T_DIR/depot.conf"
cat >"$conf" <<EOC
server = {
  listen = [ "127.0.0.1:$port" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  request_timeout = 30;
  log = { syslog = false; level = "debug"; };
};
registries = (
  { name = "docker-local"; type = "docker"; }
);
EOC
start_depotd "$conf" "$port" || bail "depotd did not start"

dc() {
	"$DEPOTCTL" -c "$conf" "$@" </dev/null
}
# put_blob REPO FILE [ALG]: upload FILE monolithically; prints the digest.
put_blob() {
	local alg=${3:-sha256} d
	d="$alg:$(${alg}sum <"$2" | cut -d' ' -f1)"
	[ "$(http_status "$base/v2/$1/blobs/uploads/?digest=$d" -X POST \
	    -H 'Content-Type: application/octet-stream' \
	    --data-binary "@$2")" = 201 ] || return 1
	echo "$d"
}
# manifest CONFIG CSIZE LAYER LSIZE: an image manifest.
manifest() {
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
	    "$1" "$2" "$3" "$4"
}
# put_manifest REPO REF FILE: prints the status.
put_manifest() {
	http_status "$base/v2/$1/manifests/$2" -X PUT \
	    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	    --data-binary "@$3"
}
# blob_path DIGEST: its file under the data directory.
blob_path() {
	local alg=${1%%:*} hex=${1#*:}
	echo "$data/blobs/$alg/$(echo "$hex" | cut -c1-2)/$hex"
}
# waits_on_fifo PID: is PID blocked opening a FIFO no one writes?
waits_on_fifo() {
	[ "$(cat "/proc/$1/wchan" 2>/dev/null)" = wait_for_partner ]
}
# image NAME SEED REPO: upload a config and a layer to REPO, write the
# manifest to $T_DIR/NAME.json; sets img_c and img_l.
image() {
	head -c 4096 /dev/urandom >"$T_DIR/$1.layer"
	printf '{"seed":"%s"}' "$2" >"$T_DIR/$1.config"
	img_l=$(put_blob "$3" "$T_DIR/$1.layer") || bail "upload $1's layer"
	img_c=$(put_blob "$3" "$T_DIR/$1.config") || bail "upload $1's config"
	manifest "$img_c" "$(wc -c <"$T_DIR/$1.config")" \
	    "$img_l" 4096 >"$T_DIR/$1.json"
}
# stall NAME: replace the stored file of the manifest $T_DIR/NAME.json by
# a FIFO, so that a gc's mark waits to open it.
stall() {
	stall_path=$(blob_path "sha256:$(sha256sum <"$T_DIR/$1.json" |
	    cut -d' ' -f1)")
	rm -f "$stall_path" && mkfifo -m 0640 "$stall_path"
}
# unstall NAME: let the mark's open go on (it reads nothing and keeps
# the repository), then put the manifest's file back. Opened read-write,
# the FIFO does not wait for a reader (the gc may be gone).
unstall() {
	: 3<>"$stall_path"
	rm -f "$stall_path"
	cp "$T_DIR/$1.json" "$stall_path"
}

# The manifest that holds the marks in place, tagged.
image stall 0 docker-local/aaa/stall
is "$(put_manifest docker-local/aaa/stall v1 "$T_DIR/stall.json")" 201 \
    "push the image whose manifest will hold the marks"

# --- a manifest PUT during the mark of gc --grace 0 ---------------------
image race 1 docker-local/race/app
race_l=$img_l race_c=$img_c
stall stall
"$DEPOTCTL" -c "$conf" gc --grace 0 >"$T_DIR/gc1.out" 2>&1 </dev/null &
gc=$!
T_PIDS="$T_PIDS $gc"
check "gc --grace 0 is in its mark" t_wait_for waits_on_fifo "$gc"
is "$(put_manifest docker-local/race/app v1 "$T_DIR/race.json")" 201 \
    "a manifest PUT during the mark, of blobs uploaded before the run"
unstall stall
wait "$gc"
is "$?" 0 "that gc ends: $(cat "$T_DIR/gc1.out")"
for d in $race_l $race_c; do
	is "$(http_status "$base/v2/docker-local/race/app/blobs/$d")" 200 \
	    "the PUT's blob $d is still served"
	check "its file is still stored" test -f "$(blob_path "$d")"
done
is "$(http_status "$base/v2/docker-local/race/app/manifests/v1")" 200 \
    "the manifest pulls"

# --- depotctl gc killed -9 in its mark ------------------------------------
stall stall
"$DEPOTCTL" -c "$conf" gc --grace 0 --untagged >/dev/null 2>&1 </dev/null &
gc=$!
T_PIDS="$T_PIDS $gc"
check "gc --untagged is in its mark" t_wait_for waits_on_fifo "$gc"
kill -KILL "$gc"
wait "$gc" 2>/dev/null
unstall stall
image after 2 docker-local/race/after
is "$(put_manifest docker-local/race/after v1 "$T_DIR/after.json")" 201 \
    "pushes go on after the kill"
is "$(http_status "$base/v2/docker-local/race/app/manifests/v1")" 200 \
    "pulls go on after the kill"
out=$(dc gc --grace 0 --untagged 2>&1)
is "$?" 0 "the next gc runs: $out"
out=$(dc fsck 2>&1)
is "$?" 0 "fsck is clean: $(echo "$out" | tail -n 1)"

# --- depotctl gc stopped by SIGTERM: it stops between two candidates ---
stall stall
"$DEPOTCTL" -c "$conf" gc --grace 0 >"$T_DIR/gc3.out" 2>&1 </dev/null &
gc=$!
T_PIDS="$T_PIDS $gc"
check "gc is in its mark again" t_wait_for waits_on_fifo "$gc"
kill -TERM "$gc"
wait "$gc"
is "$?" 1 "SIGTERM stops the gc, which fails cleanly"
like "$(cat "$T_DIR/gc3.out")" "interrupted" "it says it was interrupted"
unstall stall
is "$(http_status "$base/v2/docker-local/race/app/manifests/v1")" 200 \
    "pulls go on after the stop"

# --- a sha512 layer in a repository with many slashes ----------------------
deep=docker-local/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/a.b-c__d
head -c 3000 /dev/urandom >"$T_DIR/deep.layer"
printf '{"deep":1}' >"$T_DIR/deep.config"
deep_l=$(put_blob "$deep" "$T_DIR/deep.layer" sha512) ||
	bail "upload a sha512 layer"
deep_c=$(put_blob "$deep" "$T_DIR/deep.config") || bail "upload its config"
manifest "$deep_c" 10 "$deep_l" 3000 >"$T_DIR/deep.json"
is "$(put_manifest "$deep" v1 "$T_DIR/deep.json")" 201 \
    "push a manifest with a sha512 layer to a deep repository"
out=$(dc gc --grace 0 --untagged 2>&1)
is "$?" 0 "gc --untagged runs: $out"
is "$(http_status "$base/v2/$deep/blobs/$deep_l")" 200 \
    "the tagged sha512 layer is kept"
dm="sha256:$(sha256sum <"$T_DIR/deep.json" | cut -d' ' -f1)"
is "$(http_status "$base/v2/$deep/manifests/$dm" -X DELETE)" 202 \
    "delete that manifest"
out=$(dc gc --grace 0 2>&1)
is "$?" 0 "gc runs: $out"
check "the sha512 layer's file is freed" test ! -e "$(blob_path "$deep_l")"
check "and so is the manifest's" test ! -e "$(blob_path "$dm")"
is "$(http_status "$base/v2/docker-local/race/app/blobs/$race_l")" 200 \
    "other images keep their blobs"
out=$(dc fsck 2>&1)
is "$?" 0 "fsck is clean at the end: $(echo "$out" | tail -n 1)"

check "depotd stops cleanly" stop_depotd "$DEPOTD_PID"
