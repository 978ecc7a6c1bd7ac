#!/bin/sh
# skopeo.sh: push and pull real images with skopeo: single-platform OCI and
# Docker schema2 images, an OCI image index and a Docker manifest list;
# byte-identical round trips, inspect, list-tags, delete, one stored copy
# of a blob pushed to two repositories, and parallel pushes of images that
# share layers.
#
# TARGET=registry runs the same checks against Debian's docker-registry
# (the reference implementation) instead of depotd, to tell a wrong test
# from a wrong server.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

TARGET=${TARGET:-depot}
MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

command -v skopeo >/dev/null || skip_all "skopeo is not installed (scripts/deps test installs it)"
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

# Keep skopeo's temp files and configuration inside the test directory.
mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"

case $TARGET in
depot)
	# Clients try TLS first; depot refuses that at once and they fall
	# back to plain HTTP (checked below). The request_timeout leaves
	# clients on a busy machine time between their requests.
	write_conf "$T_DIR/depot.conf" "$port" "request_timeout = 30;"
	start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
	data="$T_DIR/data-$port"
	;;
registry)
	command -v docker-registry >/dev/null ||
		skip_all "docker-registry is not installed (scripts/deps test installs it)"
	data="$T_DIR/registry"
	cat >"$T_DIR/registry.yml" <<EOC
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: $reg
  secret: depot-test
EOC
	docker-registry serve "$T_DIR/registry.yml" >"$T_DIR/registry-$port.log" 2>&1 &
	registry_pid=$!
	T_PIDS="$T_PIDS $registry_pid"
	i=0
	while [ "$(http_status "$base/v2/")" != 200 ]; do
		if ! kill -0 "$registry_pid" 2>/dev/null || [ "$i" -ge 600 ]; then
			bail "docker-registry did not start"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	;;
*)
	bail "unknown TARGET '$TARGET' (depot or registry)"
	;;
esac

# --- clients first try TLS on the plain HTTP port; a quick refusal lets
# them fall back to HTTP at once instead of after their handshake timeout.
# The refusal is an answer (400), where a server that waited would send
# nothing before its request timeout closes the connection.
out=$(python3 - "$port" 2>&1 <<'PY'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
rbio, wbio = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(rbio, wbio, server_hostname="127.0.0.1")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(wbio.read())
try:
    data = s.recv(100)
except socket.timeout:
    data = b"(nothing within 60 s)"
if data.startswith((b"HTTP/1.1 400 ", b"HTTP/1.0 400 ")):
    print("refused")
else:
    print("a TLS handshake got %r" % data[:40])
PY
)
is "$out" refused "a TLS handshake on the plain HTTP port is refused at once"

# sk ARGS: skopeo with a time limit, no signature policy, and its temp
# files, registries.conf and (absent) credentials in the test directory.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

# push SRC DEST_REF [ARGS]: copy an image into the server under test.
push() {
	local src="$1" dest="$2"
	shift 2
	sk copy --dest-tls-verify=false "$@" "$src" "docker://$reg/$dest"
}

# pull SRC_REF DEST [ARGS]: copy an image out of the server under test.
pull() {
	local src="$1" dest="$2"
	shift 2
	sk copy --src-tls-verify=false "$@" "docker://$reg/$src" "$dest"
}

# inspect REF [ARGS]: skopeo inspect on the server under test.
inspect() {
	local ref="$1"
	shift
	sk inspect --tls-verify=false "$@" "docker://$reg/$ref"
}

# manifest REF [CURL_ARGS]: GET the manifest of REPO:TAG or REPO@DIGEST
# with curl, accepting every manifest media type.
manifest() {
	local ref="$1" repo tag
	shift
	case $ref in
	*@*) repo=${ref%@*}; tag=${ref#*@} ;;
	*) repo=${ref%:*}; tag=${ref##*:} ;;
	esac
	curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	    -H 'Accept: application/vnd.oci.image.index.v1+json' \
	    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
	    "$@" "$base/v2/$repo/manifests/$tag"
}

# raw_digest REF: digest of the manifest bytes the server returns for REF.
raw_digest() {
	echo "sha256:$(manifest "$1" -f | sha256sum | cut -d' ' -f1)"
}

# config_digest REF: digest of the config blob the server returns for REF.
config_digest() {
	echo "sha256:$(inspect "$1" --config --raw 2>>"$T_DIR/skopeo-inspect.log" |
	    sha256sum | cut -d' ' -f1)"
}

# mkimage ARGS: build a test image, print its top digest.
mkimage() {
	python3 "$MKIMAGE" "$@" || bail "mkimage.py $* failed"
}

# blob FILE_OR_LAYOUT DIGEST: path of a blob in a layout (oci or dir).
blob() {
	if [ -d "$1/blobs/sha256" ]; then
		echo "$1/blobs/sha256/${2#sha256:}"
	elif [ -f "$1/${2#sha256:}.manifest.json" ]; then
		echo "$1/${2#sha256:}.manifest.json"
	elif [ -f "$1/${2#sha256:}" ]; then
		echo "$1/${2#sha256:}"
	else
		echo "$1/manifest.json"
	fi
}

# layout_digests DIR...: the hex digests of every blob and manifest in
# the given layouts (OCI image layout or dir: format), sorted, unique.
layout_digests() {
	local d f name
	for d in "$@"; do
		if [ -d "$d/blobs/sha256" ]; then
			ls "$d/blobs/sha256"
			continue
		fi
		for f in "$d"/*; do
			name=${f##*/}
			case $name in
			version) ;;
			manifest.json) sha256sum <"$f" | cut -d' ' -f1 ;;
			*.manifest.json) echo "${name%.manifest.json}" ;;
			*) echo "$name" ;;
			esac
		done
	done | sort -u
}

# stored_digests: the hex digests of the blob files the server stores.
stored_digests() {
	if [ "$TARGET" = registry ]; then
		find "$data/docker/registry/v2/blobs/sha256" -mindepth 3 \
		    -maxdepth 3 -type f -name data | awk -F/ '{ print $(NF - 1) }'
	else
		find "$data/blobs/sha256" -mindepth 2 -maxdepth 2 -type f |
		    awk -F/ '{ print $NF }'
	fi | sort
}

# leftover_files: temp files of uploads the server still holds.
leftover_files() {
	if [ "$TARGET" = registry ]; then
		find "$data/docker/registry/v2/repositories" -path '*/_uploads/*' -type f
	else
		find "$data/tmp" -type f
	fi
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

# content_type REF: the Content-Type a GET of the manifest answers.
content_type() {
	manifest "$1" -o /dev/null -w '%{content_type}'
}

# --- test images
img_a=$T_DIR/img-a
img_b=$T_DIR/img-b
img_c=$T_DIR/img-c
img_d=$T_DIR/img-d
dig_a=$(mkimage "$img_a" --media oci --tag a --seed a --layers 2 --layer-size 262144)
dig_b=$(mkimage "$img_b" --format dir --media docker --seed b --layers 2 --layer-size 131072)
dig_c=$(mkimage "$img_c" --media oci --tag c --seed c --layers 2 --layer-size 65536 \
    --platforms linux/amd64,linux/arm64/v8)
dig_d=$(mkimage "$img_d" --format dir --media docker --seed d --layers 1 --layer-size 65536 \
    --platforms linux/amd64,linux/arm64)

# --- push
check "push a single-platform OCI image" push "oci:$img_a:a" docker-local/demo:a
check "push a single-platform Docker schema2 image" push "dir:$img_b" docker-local/demo:b
check "push an OCI image index (--all)" push "oci:$img_c:c" docker-local/multi:c --all
check "push a Docker manifest list (--all)" push "dir:$img_d" docker-local/multid:d --all

is "$(raw_digest docker-local/demo:a)" "$dig_a" "OCI manifest comes back with its digest"
is "$(raw_digest docker-local/demo:b)" "$dig_b" "Docker manifest comes back with its digest"
is "$(raw_digest docker-local/multi:c)" "$dig_c" "OCI index comes back with its digest"
is "$(raw_digest docker-local/multid:d)" "$dig_d" "Docker manifest list comes back with its digest"

is "$(content_type docker-local/demo:a)" "application/vnd.oci.image.manifest.v1+json" \
    "OCI manifest is served with its media type"
is "$(content_type docker-local/demo:b)" "application/vnd.docker.distribution.manifest.v2+json" \
    "Docker manifest is served with its media type"
is "$(content_type docker-local/multi:c)" "application/vnd.oci.image.index.v1+json" \
    "OCI index is served with its media type"
is "$(content_type docker-local/multid:d)" "application/vnd.docker.distribution.manifest.list.v2+json" \
    "Docker manifest list is served with its media type"

# --- pull back out, byte for byte
check "pull the OCI image into an OCI layout" pull docker-local/demo:a "oci:$T_DIR/out-a:a"
same_tree "$img_a/blobs" "$T_DIR/out-a/blobs" "OCI image: every blob byte-identical"
is "$(jq -r '.manifests[0].digest' "$T_DIR/out-a/index.json" 2>&1)" "$dig_a" \
    "OCI image: pulled layout names the same manifest digest"
check "pull the Docker image into a dir: copy" pull docker-local/demo:b "dir:$T_DIR/out-b"
same_tree "$img_b" "$T_DIR/out-b" "Docker image: manifest and every blob byte-identical"
check "pull the OCI index with --all" pull docker-local/multi:c "oci:$T_DIR/out-c:c" --all
same_tree "$img_c/blobs" "$T_DIR/out-c/blobs" "OCI index: every manifest and blob byte-identical"
check "pull the Docker manifest list with --all" pull docker-local/multid:d "dir:$T_DIR/out-d" --all
same_tree "$img_d" "$T_DIR/out-d" "Docker list: every manifest and blob byte-identical"

# --- inspect
manifest_a=$(blob "$img_a" "$dig_a")
out=$(inspect docker-local/demo:a 2>&1)
is "$(printf '%s' "$out" | jq -r .Digest 2>&1)" "$dig_a" "inspect: Digest"
is "$(printf '%s' "$out" | jq -r '.Layers[]' 2>&1)" "$(jq -r '.layers[].digest' "$manifest_a")" \
    "inspect: Layers are the manifest's layers"
is "$(printf '%s' "$out" | jq -r .Architecture 2>&1)" amd64 "inspect: Architecture from the config blob"
config_a=$(jq -r .config.digest "$manifest_a")
is "$(config_digest docker-local/demo:a)" "$config_a" \
    "inspect --config: the config blob is returned intact"

arm=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' \
    "$(blob "$img_c" "$dig_c")")
out=$(inspect docker-local/multi:c --override-arch arm64 --override-variant v8 2>&1)
is "$(printf '%s' "$out" | jq -r .Architecture 2>&1)" arm64 "inspect of an index picks the arm64 image"
is "$(printf '%s' "$out" | jq -r '.Layers[]' 2>&1)" "$(jq -r '.layers[].digest' "$(blob "$img_c" "$arm")")" \
    "inspect of an index: the arm64 image's layers"
is "$(raw_digest "docker-local/multi@$arm")" "$arm" "a platform manifest is fetched by digest"

out=$(inspect docker-local/demo:nosuch 2>&1)
is "$?" 1 "inspect of an unknown tag fails"
like "$out" "manifest unknown" "the failure says manifest unknown"

# --- list-tags
check "push the OCI image again as tag a2" push "oci:$img_a:a" docker-local/demo:a2
out=$(sk list-tags --tls-verify=false "docker://$reg/docker-local/demo" 2>&1)
is "$(printf '%s' "$out" | jq -r '.Tags[]' 2>&1 | sort | tr '\n' ' ')" "a a2 b " "list-tags lists every tag"
out=$(sk list-tags --tls-verify=false "docker://$reg/docker-local/multid" 2>&1)
is "$(printf '%s' "$out" | jq -r '.Tags[]' 2>&1 | tr '\n' ' ')" "d " "list-tags of another repository"

# --- the same image in two repositories is stored once
check "push the OCI image to a second repository" push "oci:$img_a:a" docker-local/other:a
is "$(raw_digest docker-local/other:a)" "$dig_a" "second repository serves the same manifest"
layout_digests "$img_a" "$img_b" "$img_c" "$img_d" >"$T_DIR/want.digests"
stored_digests >"$T_DIR/stored.digests"
is "$(wc -l <"$T_DIR/stored.digests")" "$(wc -l <"$T_DIR/want.digests")" \
    "blob files stored equal distinct blobs and manifests pushed"
check "every pushed blob and manifest is stored exactly once" \
    diff "$T_DIR/want.digests" "$T_DIR/stored.digests"
is "$(leftover_files | wc -l)" 0 "no upload temp files are left behind"

# --- delete
check "delete a manifest through its tag" sk delete --tls-verify=false "docker://$reg/docker-local/other:a"
out=$(inspect docker-local/other:a 2>&1)
is "$?" 1 "inspect of the deleted image fails"
like "$out" "manifest unknown" "the deleted image is manifest unknown"
is "$(raw_digest docker-local/demo:a)" "$dig_a" "the same image in another repository survives"
is "$(config_digest docker-local/demo:a)" "$config_a" \
    "its blobs are still served"

# --- parallel pushes of images that share layers
pars=""
for i in 1 2 3 4; do
	mkimage "$T_DIR/par$i" --tag p --seed "par$i" --layers 3 --layer-size 1048576 \
	    --shared-layers 2 --shared-seed common >"$T_DIR/par$i.digest"
	pars="$pars $T_DIR/par$i"
done
pids=""
for i in 1 2 3 4; do
	push "oci:$T_DIR/par$i:p" "docker-local/par$i:p" >"$T_DIR/par$i.out" 2>&1 &
	pids="$pids $!"
done
i=0
for pid in $pids; do
	i=$((i + 1))
	wait "$pid"
	rc=$?
	is "$rc" 0 "parallel push $i of 4 succeeds"
	[ "$rc" -eq 0 ] || tail -n 5 "$T_DIR/par$i.out" | sed 's/^/#   /'
done
for i in 1 2 3 4; do
	is "$(raw_digest "docker-local/par$i:p")" "$(cat "$T_DIR/par$i.digest")" \
	    "parallel push $i: the manifest is served"
done
check "pull a parallel-pushed image" pull docker-local/par4:p "oci:$T_DIR/out-par4:p"
same_tree "$T_DIR/par4/blobs" "$T_DIR/out-par4/blobs" "parallel-pushed image: every blob byte-identical"
# shellcheck disable=SC2086
layout_digests "$img_a" "$img_b" "$img_c" "$img_d" $pars >"$T_DIR/want.digests"
stored_digests >"$T_DIR/stored.digests"
check "shared layers pushed in parallel are stored once" \
    diff "$T_DIR/want.digests" "$T_DIR/stored.digests"
is "$(leftover_files | wc -l)" 0 "no upload temp files are left after parallel pushes"
