#!/bin/sh
# diskfull.sh: the data directory on a small tmpfs that fills up during
# pushes. Clients get clean errors (an HTTP error with the OCI error body,
# never a hang or a dropped connection), no worker dies, nothing
# half-written becomes visible (every image whose push was acknowledged,
# and every tag that exists, pulls back intact; every blob file holds the
# content its name says), the index keeps answering, and once space is
# freed service resumes by itself: a new push succeeds. Needs root (it
# mounts the tmpfs).
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"
: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"
[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"
FS_SIZE=$((96 * 1024 * 1024))
LAYER=1048576	# layers of the images pushed into the full disk
PUSHERS=3

[ "$(id -u)" = 0 ] || skip_all "mounting a tmpfs needs root"
command -v skopeo >/dev/null || skip_all "skopeo is not installed (scripts/deps test installs it)"
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
command -v fallocate >/dev/null || skip_all "fallocate is not installed"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
data="$T_DIR/data-$port"
log="$T_DIR/depotd-$port.log"
filler="$data/filler"

# The servers stop before the tmpfs is unmounted, also on failure.
diskfull_cleanup() {
	local pid
	for pid in $T_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $T_PIDS; do
		t_wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null
		t_wait_gone "$pid" 50
	done
	if mountpoint -q "$data"; then
		umount "$data" 2>/dev/null || umount -l "$data"
	fi
	t_cleanup
}
trap diskfull_cleanup EXIT

mkdir -p "$data"
mount -t tmpfs -o "size=$FS_SIZE,mode=0750" tmpfs "$data" ||
	skip_all "cannot mount a tmpfs here"

write_conf "$T_DIR/depot.conf" "$port" "request_timeout = 30;"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID

sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

push() {
	sk copy --dest-tls-verify=false "$1" "docker://$reg/$2"
}

pull() {
	sk copy --src-tls-verify=false "docker://$reg/$1" "$2"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# req METHOD URL [CURL_ARGS]: status code; headers in $T_DIR/h, body in $T_DIR/b.
req() {
	local m=$1 url=$2
	shift 2
	curl -s -X "$m" -D "$T_DIR/h" -o "$T_DIR/b" -w '%{http_code}' \
	    --max-time 30 "$@" "$url"
}

hdr() {
	tr -d '\r' <"$T_DIR/h" | grep -i "^$1:" | head -n 1 | sed 's/^[^:]*: *//'
}

# oci_error_body: the last answer's body is the OCI error JSON.
oci_error_body() {
	jq -e '.errors[0].code | strings' "$T_DIR/b" >/dev/null 2>&1
}

avail() {
	df -B1 --output=avail "$data" | tail -n 1 | tr -d ' '
}

# fill_to BYTES: grow the filler file until at most BYTES are free.
fill_to() {
	local free
	free=$(avail)
	[ "$free" -gt "$1" ] || return 0
	fallocate -l $(($(stat -c %s "$filler" 2>/dev/null || echo 0) + free - $1)) \
	    "$filler"
}

store_sound() {
	find "$data/blobs/sha256" -type f -exec sha256sum {} + |
	    awk '{ n = split($2, p, "/"); if (p[n] != $1) { print $2; bad = 1 } }
		END { exit bad }'
}

# verify_pull OUT SRC DIGEST: a pulled layout names DIGEST, and each of
# its blobs is intact and the same as in the source layout SRC.
verify_pull() {
	local out=$1 src=$2 want=$3 f n
	[ "$(jq -r '.manifests[0].digest' "$out/index.json")" = "$want" ] || {
		echo "$out: names another manifest than $want"
		return 1
	}
	for f in "$out"/blobs/sha256/*; do
		n=${f##*/}
		[ "$(sha "$f")" = "$n" ] || { echo "$f: wrong content"; return 1; }
		cmp -s "$f" "$src/blobs/sha256/$n" || {
			echo "$f: differs from the source"
			return 1
		}
	done
}


# --- images: a small one pushed while there is room, bigger ones into
# the full disk, and one for after
pids=""
python3 "$MKIMAGE" "$T_DIR/src-small" --media oci --tag s --seed small \
    --layers 2 --layer-size 65536 >"$T_DIR/src-small.d" &
pids="$pids $!"
for j in $(seq 1 $PUSHERS); do
	python3 "$MKIMAGE" "$T_DIR/src-$j" --media oci --tag f --seed "full$j" \
	    --layers 4 --layer-size $LAYER >"$T_DIR/src-$j.d" &
	pids="$pids $!"
done
python3 "$MKIMAGE" "$T_DIR/src-after" --media oci --tag a --seed after \
    --layers 3 --layer-size $LAYER >"$T_DIR/src-after.d" &
pids="$pids $!"
for pid in $pids; do
	wait "$pid" || bail "mkimage.py failed"
done

check "a push succeeds while there is room" \
    push "oci:$T_DIR/src-small:s" docker-local/full/small:s
echo "docker-local/full/small:s $T_DIR/src-small $(cat "$T_DIR/src-small.d")" \
    >"$T_DIR/acked"

# --- the disk fills up during concurrent pushes: room for half of
# their layers
fill_to $((PUSHERS * 2 * LAYER))
pids=""
for j in $(seq 1 $PUSHERS); do
	push "oci:$T_DIR/src-$j:f" "docker-local/full/img$j:f" \
	    >"$T_DIR/push-$j.out" 2>&1 &
	pids="$pids $!"
done
j=0
for pid in $pids; do
	j=$((j + 1))
	wait "$pid"
	rc=$?
	echo "$rc" >"$T_DIR/push-$j.rc"
	if [ "$rc" = 0 ]; then
		echo "docker-local/full/img$j:f $T_DIR/src-$j $(cat "$T_DIR/src-$j.d")" \
		    >>"$T_DIR/acked"
		ok "push $j into the filling disk was acknowledged"
	else
		check "push $j into the filling disk failed with an error, not a hang (status $rc)" \
		    sh -c "[ $rc != 124 ] && grep -q 'level=fatal' '$T_DIR/push-$j.out'"
	fi
done

# --- uploads into the full disk
fill_to $((LAYER / 2))
head -c $((3 * LAYER)) /dev/urandom >"$T_DIR/big"
dbig="sha256:$(sha "$T_DIR/big")"
code=$(req POST "$base/v2/docker-local/full/mono/blobs/uploads/?digest=$dbig" \
    --data-binary @"$T_DIR/big")
is "$code" 507 "a monolithic upload into a full disk answers 507"
check "... with the OCI error body" oci_error_body
like "$(cat "$T_DIR/b")" '"code":"DENIED"' "... DENIED, as the low-space guard answers"
code=$(req POST "$base/v2/docker-local/full/chunk/blobs/uploads/")
is "$code" 202 "an upload session starts on a full disk (nothing written yet)"
loc=$(hdr Location)
code=$(req PATCH "$loc" --data-binary @"$T_DIR/big")
is "$code" 507 "a chunk into a full disk answers 507"
check "... with the OCI error body" oci_error_body
like "$(cat "$T_DIR/b")" '"code":"DENIED"' "... DENIED"
is "$(req GET "$loc"):$(hdr Range)" "204:0-0" "... and the session keeps its offset"

# --- completely full: the index and the manifest path
fill_to 0
is "$(req GET "$base/v2/_catalog")" 200 "the catalog answers on a full disk"
is "$(req GET "$base/v2/docker-local/full/small/tags/list")" 200 "tags list answers on a full disk"
small_manifest=$(jq -r '.manifests[0].digest' "$T_DIR/src-small/index.json")
small_manifest=$T_DIR/src-small/blobs/sha256/${small_manifest#sha256:}
code=$(req PUT "$base/v2/docker-local/full/small/manifests/again" \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$small_manifest")
if [ "$code" = 201 ]; then
	ok "a manifest PUT of stored content on a full disk succeeds"
	echo "docker-local/full/small:again $T_DIR/src-small $(cat "$T_DIR/src-small.d")" \
	    >>"$T_DIR/acked"
else
	like "$code" '^5[0-9][0-9]$' "a manifest PUT on a full disk fails with a server error ($code)"
	check "... with the OCI error body" oci_error_body
fi
code=$(req POST "$base/v2/docker-local/full/chunk2/blobs/uploads/")
if [ "$code" = 202 ]; then
	ok "a new upload session on a full disk starts"
else
	like "$code" '^5[0-9][0-9]$' "a new upload session on a full disk fails with a server error ($code)"
	check "... with the OCI error body" oci_error_body
fi
# Many small index writes on the full disk: Berkeley DB's log fills too.
: >"$T_DIR/sessions"
for i in $(seq 1 60); do
	code=$(req POST "$base/v2/docker-local/full/many/blobs/uploads/")
	echo "$code" >>"$T_DIR/sessions"
	[ "$code" = 202 ] && continue
	oci_error_body || echo "no-json" >>"$T_DIR/sessions"
done
is "$(grep -Ev '^(202|5[0-9][0-9])$' "$T_DIR/sessions" | sort | uniq -c)" "" \
    "index writes on a full disk succeed or fail with a server error and the OCI body"
sort "$T_DIR/sessions" | uniq -c | sed 's/^/# /'
is "$(http_status "$base/v2/docker-local/full/small/manifests/s" \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json')" 200 \
    "a stored image is still served on a full disk"

# --- space returns: service resumes by itself
rm -f "$filler"
head -c 65536 /dev/urandom >"$T_DIR/probe"
dprobe="sha256:$(sha "$T_DIR/probe")"
probe_stored() {
	[ "$(req POST "$base/v2/docker-local/full/probe/blobs/uploads/?digest=$dprobe" \
	    --data-binary @"$T_DIR/probe")" = 201 ]
}
check "once space is freed, an upload is stored again" t_wait_alive "$master" probe_stored
check "... and a new push succeeds" push "oci:$T_DIR/src-after:a" docker-local/full/after:a
echo "docker-local/full/after:a $T_DIR/src-after $(cat "$T_DIR/src-after.d")" >>"$T_DIR/acked"
code=$(req PATCH "$loc" --data-binary @"$T_DIR/big")
is "$code" 202 "the session refused on the full disk takes its chunk now"
is "$(req PUT "$loc?digest=$dbig")" 201 "... and completes"

# --- nothing half-written is visible
bad=""
n=0
while read -r ref src want; do
	n=$((n + 1))
	out=$T_DIR/back-$n
	pull "$ref" "oci:$out:x" >>"$T_DIR/back.out" 2>&1 &&
	    verify_pull "$out" "$src" "$want" >>"$T_DIR/verify.out" ||
	    bad="$bad $ref"
	rm -rf "$out"
done <"$T_DIR/acked"
is "$bad" "" "every acknowledged image ($n) pulls back intact"
bad=""
for j in $(seq 1 $PUSHERS); do
	[ "$(cat "$T_DIR/push-$j.rc")" = 0 ] && continue
	code=$(http_status "$base/v2/docker-local/full/img$j/manifests/f" \
	    -H 'Accept: application/vnd.oci.image.manifest.v1+json')
	[ "$code" = 404 ] && continue
	out=$T_DIR/back-f$j
	pull "docker-local/full/img$j:f" "oci:$out:x" >>"$T_DIR/back.out" 2>&1 &&
	    verify_pull "$out" "$T_DIR/src-$j" "$(cat "$T_DIR/src-$j.d")" \
	    >>"$T_DIR/verify.out" || bad="$bad img$j:$code"
	rm -rf "$out"
done
is "$bad" "" "a failed push left no tag, or one whose image is whole"
check "every blob file holds the content its name says" store_sound
check "depotctl fsck is clean" "$DEPOTCTL" -c "$T_DIR/depot.conf" fsck

check "no worker died" sh -c "! grep -E 'worker [0-9]+ (killed|exited with status)|dying quickly|needs recovery' '$log'"
check "no sanitizer report in the server log" \
    sh -c "! grep -E 'ERROR: [A-Za-z]+Sanitizer|runtime error' '$log'"
stop_depotd "$master"
is "$?" 0 "depotd stops cleanly"
