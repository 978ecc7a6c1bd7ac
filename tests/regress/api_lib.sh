# tests/regress/api_lib.sh: a depotd for the API and console tests
# (api.sh, console.sh), sourced after lib.sh. Users alice and bob, an
# auth group, registries with different read lists, a docker upstream
# with a password that nobody answers for (and a second one), a helm registry, and content:
# a pushed image with two tags and a signature-like referrer, a
# multi-arch image (an OCI index of linux/amd64 and linux/arm64) and a
# few small repositories to page through; a helm registry with a chart
# of its own and a helm upstream (nginx serving a static chart
# repository).
#
# Sets: reg (host:port), base (http://reg), port, conf, ALICE, BOB,
# SECRETS (every configured secret, one per line in $T_DIR/secrets),
# d_web1, d_multi, d_ref, d_multi_amd64, d_multi_arm64, d_chart (the hex
# SHA-256 of okchart 0.1.0 in the helm registry "charts"), CHARTS_UP (the
# helm upstream's URL).

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"

for cmd in curl jq skopeo; do
	command -v "$cmd" >/dev/null ||
		skip_all "$cmd is not installed (scripts/deps test installs it)"
done
command -v htpasswd >/dev/null ||
	skip_all "htpasswd is not installed (apache2-utils; scripts/deps test installs it)"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

command -v nginx >/dev/null ||
	skip_all "nginx is not installed (scripts/deps test installs it)"
. "$DEPOT_SRCDIR/tests/regress/helm_lib.sh"

mkdir -p "$T_DIR/tmp"

# The helm upstream: a static chart repository (nginx) with okchart
# 0.1.0 (the hosted one wins), okchart 0.2.0, upchart 1.0.0 and 2.0.0.
mkdir -p "$T_DIR/www-charts/charts"
{
	echo "apiVersion: v1"
	echo "entries:"
	for c in okchart-0.1.0 okchart-0.2.0 upchart-1.0.0 upchart-2.0.0; do
		printf 'chart %s from the upstream\n' "$c" | gzip -n \
		    >"$T_DIR/www-charts/charts/$c.tgz"
	done
	echo "  okchart:"
	for v in 0.2.0 0.1.0; do
		cat <<EOY
  - name: okchart
    version: $v
    apiVersion: v2
    appVersion: "ok-$v"
    description: okchart of the upstream
    created: "2026-01-02T03:04:05Z"
    digest: $(sha256sum "$T_DIR/www-charts/charts/okchart-$v.tgz" | cut -d' ' -f1)
    urls: [ "charts/okchart-$v.tgz" ]
EOY
	done
	echo "  upchart:"
	for v in 1.0.0 2.0.0; do
		cat <<EOY
  - name: upchart
    version: $v
    apiVersion: v2
    appVersion: "up-$v"
    description: Upstream chart $v
    created: "2026-01-02T03:04:05Z"
    digest: $(sha256sum "$T_DIR/www-charts/charts/upchart-$v.tgz" | cut -d' ' -f1)
    urls: [ "charts/upchart-$v.tgz" ]
EOY
	done
	echo 'generated: "2026-01-02T03:04:05Z"'
} >"$T_DIR/www-charts/index.yaml"
start_static charts || bail "nginx (the helm upstream) did not start"
CHARTS_UP="http://127.0.0.1:$STATIC_PORT"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

ALICE=alice:alice-pw-5309
BOB=bob:bob-pw-8675
UP_SECRET=upstream-secret-1138
{
	htpasswd -Bbn alice alice-pw-5309 && htpasswd -Bbn bob bob-pw-8675
} 2>/dev/null | grep -v '^$' >"$T_DIR/htpasswd"
[ "$(wc -l <"$T_DIR/htpasswd")" -eq 2 ] || bail "htpasswd -B failed"
chmod 600 "$T_DIR/htpasswd"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
conf="$T_DIR/depot.conf"
cat >"$conf" <<EOC
server = {
  listen = [ "$reg" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$T_DIR/data-$port";
  ui_dir = "$DEPOT_SRCDIR/share/ui";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
};
auth = {
  users_file = "$T_DIR/htpasswd";
  token_key_file = "$T_DIR/token.key";
  token_cert_file = "$T_DIR/token.crt";
};
upstreams = (
  { key = "hub"; type = "docker"; source = "custom"; url = "http://127.0.0.1:9";
    tag_ttl = 120; timeout = 2;
    auth = { type = "userpass"; username = "ci-user"; password = "$UP_SECRET"; }; },
  { key = "hub2"; type = "docker"; source = "custom"; url = "http://127.0.0.1:9/two";
    timeout = 2; auth = { type = "anonymous"; }; read = [ "alice" ]; },
  { key = "charts-up"; type = "helm"; source = "custom"; url = "$CHARTS_UP";
    auth = { type = "anonymous"; }; }
);
registries = (
  { name = "apps"; type = "docker"; description = "team images";
    labels = [ "team-a", "prod" ]; read = [ "alice" ]; write = [ "alice" ]; },
  { name = "proxied"; type = "docker"; read = [ "alice" ]; upstreams = [ "hub2", "hub" ]; },
  { name = "pub"; type = "docker"; description = "public images";
    labels = [ "public" ]; read = [ "anonymous" ]; write = [ "alice" ]; },
  { name = "team"; type = "docker"; read = [ "*" ]; write = [ "*" ]; },
  { name = "charts"; type = "helm"; description = "helm charts";
    read = [ "anonymous" ]; write = [ "alice" ]; upstreams = [ "charts-up" ]; }
);
EOC
printf '%s\n' alice-pw-5309 bob-pw-8675 "$UP_SECRET" >"$T_DIR/secrets"
start_depotd "$conf" "$port" || bail "depotd did not start"
openssl pkey -in "$T_DIR/token.key" -outform DER 2>/dev/null | base64 -w0 |
    cut -c1-40 >>"$T_DIR/secrets"

# sk ARGS: skopeo with a time limit, no signature policy, its files in
# the test directory.
sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

# push LAYOUT TAG DEST: copy every image of an OCI layout to depot as alice.
push() {
	sk copy --all --dest-tls-verify=false --dest-creds "$ALICE" \
	    "oci:$1:$2" "docker://$reg/$3" >"$T_DIR/push.out" 2>&1 ||
		bail "push of $3 failed: $(tail -n 3 "$T_DIR/push.out")"
}

python3 "$MKIMAGE" "$T_DIR/img-web" --tag 1.0 --seed api-web --layers 2 \
    --layer-size 8192 >/dev/null || bail "mkimage.py failed"
python3 "$MKIMAGE" "$T_DIR/img-multi" --tag 1 --seed api-multi --layers 1 \
    --layer-size 4096 --platforms linux/amd64,linux/arm64 >/dev/null ||
	bail "mkimage.py failed"
python3 "$MKIMAGE" "$T_DIR/img-small" --tag v1 --seed api-small --layers 1 \
    --layer-size 1024 >/dev/null || bail "mkimage.py failed"
push "$T_DIR/img-web" 1.0 apps/web:1.0
push "$T_DIR/img-web" 1.0 apps/web:2.0
push "$T_DIR/img-multi" 1 pub/multi:1
for r in alpha beta gamma; do
	push "$T_DIR/img-small" v1 "pub/$r:v1"
done

# mdigest REPO REF: the digest of the manifest depot serves, as alice.
mdigest() {
	echo "sha256:$(curl -sf -u "$ALICE" \
	    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	    -H 'Accept: application/vnd.oci.image.index.v1+json' \
	    "$base/v2/$1/manifests/$2" | sha256sum | cut -d' ' -f1)"
}
# A chart in the helm registry (okchart 0.1.0), uploaded as alice.
python3 "$DEPOT_SRCDIR/tests/tools/helm_index.py" badchart ok "$T_DIR/okchart-0.1.0.tgz" ||
	bail "helm_index.py failed"
curl -sf -o /dev/null -u "$ALICE" --data-binary @"$T_DIR/okchart-0.1.0.tgz" \
    "$base/helm/charts/api/charts" || bail "chart upload failed"
d_chart=$(sha256sum "$T_DIR/okchart-0.1.0.tgz" | cut -d' ' -f1)
d_web1=$(mdigest apps/web 1.0)
d_multi=$(mdigest pub/multi 1)
d_multi_amd64=$(curl -sf -u "$ALICE" -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "$base/v2/pub/multi/manifests/1" | jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest')
d_multi_arm64=$(curl -sf -u "$ALICE" -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "$base/v2/pub/multi/manifests/1" | jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')

# A referrer of apps/web:1.0 (a signature-like artifact): the empty
# config, then a manifest whose subject is the image.
empty=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
printf '{}' | curl -sf -o /dev/null -u "$ALICE" -X POST \
    -H 'Content-Type: application/octet-stream' --data-binary @- \
    "$base/v2/apps/web/blobs/uploads/?digest=$empty" || bail "empty blob upload failed"
web_size=$(curl -sf -u "$ALICE" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "$base/v2/apps/web/manifests/1.0" | wc -c)
cat >"$T_DIR/ref.json" <<EOJ
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.signature","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$empty","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$empty","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$d_web1","size":$web_size}}
EOJ
d_ref="sha256:$(sha256sum <"$T_DIR/ref.json" | cut -d' ' -f1)"
st=$(curl -s -o /dev/null -w '%{http_code}' -u "$ALICE" -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$T_DIR/ref.json" "$base/v2/apps/web/manifests/$d_ref")
[ "$st" = 201 ] || bail "referrer push: $st"
