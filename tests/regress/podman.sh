#!/bin/sh
# podman.sh: podman pulls an image that skopeo pushed, tags and pushes it
# to another repository (as OCI and as Docker schema2), pushes an image it
# built (a new layer compressed while uploading), and pulls everything back
# from a clean store with the same image IDs and digests; it also pulls
# one platform of a multi-arch index. Runs podman as root with its own vfs
# store under the test directory; no container is run.
#
# TARGET=registry runs the same checks against Debian's docker-registry
# instead of depotd.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

TARGET=${TARGET:-depot}
MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

command -v podman >/dev/null || skip_all "podman is not installed (scripts/deps test installs it)"
command -v skopeo >/dev/null || skip_all "skopeo is not installed (scripts/deps test installs it)"
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
[ "$(id -u)" = 0 ] || skip_all "podman runs as root here (rootless needs subuid setup)"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"
: >"$T_DIR/containers.conf"
cat >"$T_DIR/storage.conf" <<EOC
[storage]
driver = "vfs"
graphroot = "$T_DIR/root"
runroot = "$T_DIR/runroot"
EOC

# pm ARGS: podman with a time limit and everything it keeps (store, state,
# temp files, configuration) under the test directory.
pm() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    CONTAINERS_CONF=$T_DIR/containers.conf \
	    CONTAINERS_STORAGE_CONF=$T_DIR/storage.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 podman --storage-driver=vfs --root "$T_DIR/root" \
	    --runroot "$T_DIR/runroot" --tmpdir "$T_DIR/libpod" \
	    --cgroup-manager=cgroupfs --events-backend=none "$@"
}

# sk ARGS: skopeo with a time limit, no signature policy.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

out=$(pm images 2>&1) ||
	skip_all "podman cannot run here: $(printf '%s\n' "$out" | tail -n 1)"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"

case $TARGET in
depot)
	# Clients try TLS first; depot refuses that at once and they fall
	# back to plain HTTP (skopeo.sh checks that). The request_timeout leaves
	# clients on a busy machine time between their requests.
	write_conf "$T_DIR/depot.conf" "$port" "request_timeout = 30;"
	start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
	;;
registry)
	command -v docker-registry >/dev/null ||
		skip_all "docker-registry is not installed (scripts/deps test installs it)"
	cat >"$T_DIR/registry.yml" <<EOC
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T_DIR/registry
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

# image_field IMAGE FORMAT: podman image inspect --format FORMAT IMAGE.
image_field() {
	pm image inspect --format "$2" "$1" 2>&1
}

# hex DIGEST: the digest without its algorithm, as podman prints image IDs.
hex() {
	echo "${1#sha256:}"
}

# --- images pushed by skopeo
src=$T_DIR/img-src
multi=$T_DIR/img-multi
dig_src=$(python3 "$MKIMAGE" "$src" --tag t --seed podman --layers 2 --layer-size 131072) ||
	bail "mkimage.py failed"
dig_multi=$(python3 "$MKIMAGE" "$multi" --tag t --seed podman-multi --layers 1 \
    --platforms linux/amd64,linux/arm64) || bail "mkimage.py failed"
config_src=$(jq -r .config.digest "$src/blobs/sha256/$(hex "$dig_src")")
arm=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' \
    "$multi/blobs/sha256/$(hex "$dig_multi")")
config_arm=$(jq -r .config.digest "$multi/blobs/sha256/$(hex "$arm")")
check "skopeo pushes the source image" \
    sk copy --dest-tls-verify=false "oci:$src:t" "docker://$reg/docker-local/podsrc:1"
check "skopeo pushes a multi-arch index" \
    sk copy --all --dest-tls-verify=false "oci:$multi:t" "docker://$reg/docker-local/podmulti:1"

# --- pull, tag, push
check "podman pulls the image" pm pull -q --tls-verify=false "$reg/docker-local/podsrc:1"
is "$(image_field "$reg/docker-local/podsrc:1" '{{.ID}}')" "$(hex "$config_src")" \
    "the pulled image ID is its config digest"
is "$(image_field "$reg/docker-local/podsrc:1" '{{.Digest}}')" "$dig_src" \
    "the pulled image has the pushed manifest digest"

check "podman tags the image" pm tag "$reg/docker-local/podsrc:1" "$reg/docker-local/podcopy:2"
check "podman pushes it to another repository" pm push --tls-verify=false \
    --digestfile "$T_DIR/copy.digest" "$reg/docker-local/podcopy:2"
dig_copy=$(cat "$T_DIR/copy.digest" 2>/dev/null)
is "$(raw_digest docker-local/podcopy:2)" "$dig_copy" "the server serves the manifest podman pushed"
is "$(manifest docker-local/podcopy:2 | jq -r .config.digest 2>&1)" "$config_src" \
    "the pushed manifest names the same config"

check "podman pushes it as Docker schema2" pm push --tls-verify=false --format v2s2 \
    --digestfile "$T_DIR/v2.digest" "$reg/docker-local/podcopy:2" "$reg/docker-local/podv2:3"
dig_v2=$(cat "$T_DIR/v2.digest" 2>/dev/null)
is "$(raw_digest docker-local/podv2:3)" "$dig_v2" "the server serves the schema2 manifest podman pushed"
is "$(manifest docker-local/podv2:3 | jq -r .mediaType 2>&1)" \
    "application/vnd.docker.distribution.manifest.v2+json" "it is a Docker schema2 manifest"

# A build that only copies a file needs no container: its new layer is
# compressed while it is uploaded, so the client does not know its length.
mkdir -p "$T_DIR/ctx"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(7).randbytes(400000))' \
    >"$T_DIR/ctx/payload.bin"
printf 'FROM %s\nCOPY payload.bin /payload.bin\n' "$reg/docker-local/podsrc:1" >"$T_DIR/ctx/Containerfile"
check "podman builds an image on top of the pulled one" \
    pm build -q --tls-verify=false -t "$reg/docker-local/built:1" "$T_DIR/ctx"
id_built=$(image_field "$reg/docker-local/built:1" '{{.ID}}')
check "podman pushes the built image (a new layer)" pm push --tls-verify=false \
    --digestfile "$T_DIR/built.digest" "$reg/docker-local/built:1"
dig_built=$(cat "$T_DIR/built.digest" 2>/dev/null)
is "$(raw_digest docker-local/built:1)" "$dig_built" "the server serves the built image's manifest"

# --- pull everything back into an empty store
check "podman removes every local image" pm rmi -a -f
is "$(pm images -q | wc -l)" 0 "the local store is empty"
check "podman pulls the copy back" pm pull -q --tls-verify=false "$reg/docker-local/podcopy:2"
is "$(image_field "$reg/docker-local/podcopy:2" '{{.ID}}')" "$(hex "$config_src")" \
    "the copy has the original image ID"
is "$(image_field "$reg/docker-local/podcopy:2" '{{.Digest}}')" "$dig_copy" \
    "the copy has the digest podman pushed"
check "podman pulls the schema2 copy back" pm pull -q --tls-verify=false "$reg/docker-local/podv2:3"
is "$(image_field "$reg/docker-local/podv2:3" '{{.ID}}')" "$(hex "$config_src")" \
    "the schema2 copy has the original image ID"
check "podman pulls the built image back" pm pull -q --tls-verify=false "$reg/docker-local/built:1"
is "$(image_field "$reg/docker-local/built:1" '{{.ID}}')" "$id_built" \
    "the built image has its image ID"
is "$(image_field "$reg/docker-local/built:1" '{{len .RootFS.Layers}}')" 3 \
    "the built image has its three layers"

# --- one platform of a multi-arch index
check "podman pulls the arm64 image of an index" \
    pm pull -q --tls-verify=false --arch arm64 "$reg/docker-local/podmulti:1"
is "$(image_field "$reg/docker-local/podmulti:1" '{{.ID}}')" "$(hex "$config_arm")" \
    "the arm64 image has the arm64 config"
is "$(image_field "$reg/docker-local/podmulti:1" '{{.Architecture}}')" arm64 \
    "the pulled image is arm64"
