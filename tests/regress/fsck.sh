#!/bin/sh
# fsck.sh: depotctl fsck on a real store. Images pushed with skopeo and a
# blob with curl, and content cached from an upstream (docker-registry):
# one platform of a multi-platform index and a manifest without its
# layers, which pull-through fetches when asked, so neither is damage.
# The store is clean online (depotd running), while a push runs, and
# offline. Then the store is damaged by hand: a byte of a layer
# flipped, the file of a linked layer deleted, an old orphan blob, an old
# part file of a dead fetch, and a tag left dangling by deleting its
# manifest's file, and a hosted Helm chart without its file. fsck lists
# each (exit 1); --repair repairs each and
# says how (the damaged layer goes to lost+found/); a second fsck is
# clean, and the intact image still pulls byte for byte. Usage errors
# exit 2.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"
MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"
for c in skopeo jq curl; do
	command -v "$c" >/dev/null ||
	    skip_all "$c is not installed (scripts/deps test installs it)"
done
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
conf="$T_DIR/depot.conf"
data="$T_DIR/data-$port"
# An upstream with a two-platform image and a plain one, when
# docker-registry is there.
. "$DEPOT_SRCDIR/tests/regress/upstream_lib.sh"
up_port=
if command -v docker-registry >/dev/null && start_upstream hub plain; then
	up_port=$UPSTREAM_PORT
	python3 "$MKIMAGE" --platforms linux/amd64,linux/arm64 --layers 1 \
	    --seed multi --tag multi "$T_DIR/uplayout" >/dev/null &&
	    python3 "$MKIMAGE" --layers 2 --seed lazy --tag lazy \
	    "$T_DIR/uplayout" >/dev/null || bail "mkimage.py failed"
	{ upstream_push hub "oci:$T_DIR/uplayout:multi" lib/multi:v1 &&
	    upstream_push hub "oci:$T_DIR/uplayout:lazy" lib/lazy:v1; } \
	    >>"$T_DIR/skopeo.log" 2>&1 || bail "push to the upstream failed"
fi
cat >"$conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$data";
  request_timeout = 30;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
upstreams = (
  { key = "hub"; type = "docker"; source = "custom";
    url = "http://127.0.0.1:${up_port:-9}"; timeout = 10; }
);
registries = (
  { name = "docker-local"; type = "docker"; },
  { name = "proxied"; type = "docker"; upstreams = [ "hub" ]; },
  { name = "charts"; type = "helm"; }
);
EOC
start_depotd "$conf" "$port" || bail "depotd did not start"

# sk ARGS: skopeo with a time limit and its files in the test directory.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

push() {
	sk copy --dest-tls-verify=false "oci:$T_DIR/layout:$1" \
	    "docker://$reg/docker-local/$2" >>"$T_DIR/skopeo.log" 2>&1
}

# mkimage TAG SEED LAYERS: an image in the layout; prints its digest.
mkimage() {
	python3 "$MKIMAGE" --layers "$3" --seed "$2" --tag "$1" \
	    "$T_DIR/layout" || bail "mkimage.py failed"
}

# layers DIGEST: the layer digests (hex) of a manifest in the layout.
layers() {
	jq -r '.layers[].digest' "$T_DIR/layout/blobs/sha256/${1#sha256:}" |
	    sed 's/^sha256://'
}

blobfile() {
	echo "$data/blobs/sha256/$(echo "$1" | cut -c1-2)/$1"
}

# fsck ARGS: run depotctl fsck; its output in $out, its status in $rc.
fsck() {
	"$DEPOTCTL" -c "$conf" fsck "$@" >"$T_DIR/fsck.out" 2>"$T_DIR/fsck.err" </dev/null
	rc=$?
	out=$(cat "$T_DIR/fsck.out" "$T_DIR/fsck.err")
}

app=$(mkimage app 1 2)
other=$(mkimage other 2 1)
keep=$(mkimage keep 3 2)
gone=$(mkimage gone 4 1)
ok_push=0
for img in app:app:v1 other:other:v2 keep:keep:v1 gone:gone:v1; do
	tag=${img%%:*}
	dest=${img#*:}
	push "$tag" "$dest" || ok_push=1
done
is "$ok_push" 0 "four images pushed with skopeo"
blob=$(printf 'a blob pushed with curl' | sha256sum | cut -d' ' -f1)
st=$(printf 'a blob pushed with curl' | curl -s -o /dev/null -w '%{http_code}' \
    -X POST -H 'Content-Type: application/octet-stream' --data-binary @- \
    "$base/v2/docker-local/loose/blobs/uploads/?digest=sha256:$blob")
is "$st" 201 "a blob pushed with curl"
python3 - "$T_DIR/demo-1.0.0.tgz" <<'PY' || bail "cannot make a chart"
import io, sys, tarfile
data = b"apiVersion: v2\nname: demo\nversion: 1.0.0\ndescription: a chart\n"
with tarfile.open(sys.argv[1], "w:gz") as t:
    ti = tarfile.TarInfo("demo/Chart.yaml")
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
PY
chart=$(sha256sum <"$T_DIR/demo-1.0.0.tgz" | cut -d' ' -f1)
st=$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$T_DIR/demo-1.0.0.tgz" \
    "$base/helm/charts/api/charts")
is "$st" 201 "a Helm chart uploaded"

if [ -n "$up_port" ]; then
	sk copy --src-tls-verify=false --override-os linux --override-arch arm64 \
	    "docker://$reg/proxied/lib/multi:v1" "dir:$T_DIR/multi-arm64" \
	    >>"$T_DIR/skopeo.log" 2>&1
	is "$?" 0 "one platform of an upstream's index pulled through"
	st=$(curl -s -o /dev/null -w '%{http_code}' \
	    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	    -H 'Accept: application/vnd.oci.image.index.v1+json' \
	    "$base/v2/proxied/lib/lazy/manifests/v1")
	is "$st" 200 "a manifest cached without its layers"
else
	skip "docker-registry is not installed: no upstream content"
	skip "docker-registry is not installed: no upstream content"
fi

fsck
is "$rc" 0 "fsck of the pushed store exits 0 (online)"
like "$out" "^fsck: online, [0-9]+ blobs .* hashed, [0-9]+ index entries checked: clean$" \
    "it says it checked online and found the store clean"

# fsck runs beside a push: neither waits for the other for long.
new=$(mkimage new 5 2)
"$DEPOTCTL" -c "$conf" fsck >"$T_DIR/fsck-bg.out" 2>&1 </dev/null &
fsck_pid=$!
push new new:v1
push_rc=$?
wait "$fsck_pid"
fsck_rc=$?
is "$push_rc/$fsck_rc" "0/0" "a push while fsck runs succeeds, and fsck finds the store clean"

stop_depotd "$DEPOTD_PID"
fsck
is "$rc" 0 "fsck exits 0 offline"
like "$out" "^fsck: offline, .*: clean$" "it says it checked offline"
start_depotd "$conf" "$port" || bail "depotd did not start again"

# --- damage
app_layer=$(layers "$app" | head -n 1)
other_layer=$(layers "$other" | head -n 1)
printf '\377' | dd of="$(blobfile "$app_layer")" bs=1 seek=10 conv=notrunc 2>/dev/null
rm -f "$(blobfile "$other_layer")"
orphan=$(printf 'nobody links me' | sha256sum | cut -d' ' -f1)
mkdir -p "$(dirname "$(blobfile "$orphan")")"
printf 'nobody links me' >"$(blobfile "$orphan")"
touch -d '3 days ago' "$(blobfile "$orphan")"
part="$data/tmp/sha256-$(printf 'dead fetch' | sha256sum | cut -d' ' -f1).part"
printf 'half a blob' >"$part"
touch -d '3 days ago' "$part"
rm -f "$(blobfile "${gone#sha256:}")"
rm -f "$(blobfile "$chart")"

fsck
is "$rc" 1 "fsck of the damaged store exits 1"
like "$out" "^blob: sha256:$app_layer: content does not match its digest \(it hashes to sha256:" \
    "it finds the layer whose byte was flipped"
like "$out" "^link: docker-local/other@sha256:$other_layer: the blob is not stored$" \
    "it finds the link whose blob file was deleted"
like "$out" "^manifest: docker-local/other@$other: references sha256:$other_layer, which is not stored$" \
    "and the pushed manifest that references it"
like "$out" "^orphan: sha256:$orphan: nothing links or references it \(15 bytes\)$" \
    "it finds the orphan blob"
like "$out" "^tmp: tmp/${part##*/}: part file of an upstream fetch that ended unfinished" \
    "it finds the old part file"
like "$out" "^tag: docker-local/gone:v1: points at $gone, which is not stored$" \
    "it finds the tag whose manifest is gone"
like "$out" "^link: docker-local/gone@$gone: the manifest is not stored$" \
    "and the manifest's link"
like "$out" "^chart: charts/demo-1.0.0: its chart file sha256:$chart is not stored$" \
    "it finds the chart version whose file was deleted"
like "$out" "^fsck: online, .*: [0-9]+ problems$" "a summary line counts the problems"

fsck --repair
is "$rc" 1 "fsck --repair exits 1 (problems were found)"
like "$out" "^blob: sha256:$app_layer: .*; repaired: moved to lost\+found/sha256-$app_layer$" \
    "the damaged layer is moved to lost+found"
like "$out" "^link: docker-local/other@sha256:$other_layer: .*; repaired: link removed$" \
    "the dangling link is removed"
like "$out" "^manifest: docker-local/app@$app: .*; repaired: manifest unlinked" \
    "the image that lost its layer is unlinked"
like "$out" "^orphan: sha256:$orphan: .*; repaired: removed$" "the orphan is removed"
like "$out" "^tmp: tmp/${part##*/}: .*; repaired: removed$" "the part file is removed"
like "$out" "^tag: docker-local/gone:v1: .*; repaired: tag removed$" "the dangling tag is removed"
like "$out" "^chart: charts/demo-1.0.0: .*; repaired: chart version removed$" \
    "the chart version is removed"
if printf '%s\n' "$out" | grep -q 'not repaired'; then
	not_ok "every problem is repaired"
	printf '%s\n' "$out" | grep 'not repaired' | sed 's/^/#   /'
else
	ok "every problem is repaired"
fi
like "$out" "^fsck: online, .*: ([0-9]+) problems, \1 repaired$" "the summary counts the repairs"
check "the damaged layer's bytes are in lost+found" \
    test -f "$data/lost+found/sha256-$app_layer"
check "the orphan blob file is gone" test ! -e "$(blobfile "$orphan")"

fsck
is "$rc" 0 "fsck after the repair exits 0"
like "$out" ": clean$" "the repaired store is clean"

# the intact image still pulls, byte for byte
rm -rf "$T_DIR/pulled"
sk copy --src-tls-verify=false "docker://$reg/docker-local/keep:v1" \
    "dir:$T_DIR/pulled" >>"$T_DIR/skopeo.log" 2>&1
is "$?" 0 "the intact image still pulls"
bad=0
for l in $(layers "$keep"); do
	[ "$(sha256sum <"$T_DIR/pulled/$l" | cut -d' ' -f1)" = "$l" ] || bad=1
done
is "$bad" 0 "its layers are intact"
if curl -s "$base/helm/charts/index.yaml" | grep -q demo-1.0.0; then
	not_ok "the chart's index.yaml no longer lists it"
else
	ok "the chart's index.yaml no longer lists it"
fi
is "$(http_status "$base/v2/docker-local/app/manifests/v1")" 404 \
    "the image that lost a layer answers 404 until it is pushed again"
push app app:v1
is "$?" 0 "pushing it again works"
fsck
is "$rc" 0 "and the store is clean"

# usage
fsck extra
is "$rc" 2 "an operand is a usage error (exit 2)"
fsck --bogus
is "$rc" 2 "an unknown option is a usage error (exit 2)"
