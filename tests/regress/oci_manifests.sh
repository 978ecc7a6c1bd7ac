#!/bin/sh
# oci_manifests.sh: manifests pushed to a hosted registry: push with blob
# and digest checks, pull by tag and digest with Accept negotiation, tag
# and manifest deletion, tags list and catalog pagination, and the
# referrers API.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"
command -v python3 >/dev/null || skip_all "python3 is not installed"

MT_OCI=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
MT_DOCKER=application/vnd.docker.distribution.manifest.v2+json

# conf FILE PORT REGISTRIES: a config with a docker upstream key "hub".
conf() {
	cat >"$1" <<EOC
server = {
  listen = [ "127.0.0.1:$2" ];
  workers = 2;
  pidfile = "$T_DIR/depotd.pid";
  data_dir = "$T_DIR/data";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access.log"; };
};
upstreams = (
  { key = "hub"; type = "docker"; source = "custom"; url = "http://127.0.0.1:9";
    auth = { type = "anonymous"; }; }
);
registries = (
$3
);
EOC
}

# digest_of FILE: the sha256 digest of a file.
digest_of() {
	echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

# header FILE NAME: the value of a response header in a curl -D dump.
header() {
	grep -i "^$2:" "$1" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# json EXPR: evaluate a Python expression on the JSON document on stdin (d).
json() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# push_blob REPO FILE: monolithic upload; prints the HTTP status.
push_blob() {
	curl -s -o /dev/null -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/octet-stream' --data-binary @"$2" \
	    "$base/v2/$1/blobs/uploads/?digest=$(digest_of "$2")"
}

# put REPO REF FILE MEDIATYPE: PUT a manifest; headers in $T_DIR/put.h,
# body in $T_DIR/put.b; prints the HTTP status.
put() {
	curl -s -D "$T_DIR/put.h" -o "$T_DIR/put.b" -w '%{http_code}' -X PUT \
	    -H "Content-Type: $4" --data-binary @"$3" "$base/v2/$1/manifests/$2"
}

# get URL [curl args]: GET; headers in $T_DIR/get.h, body in $T_DIR/get.b;
# prints the HTTP status.
get() {
	local url=$1
	shift
	curl -s -D "$T_DIR/get.h" -o "$T_DIR/get.b" -w '%{http_code}' "$@" "$url"
}

# walk URL: follow Link headers from URL; prints every page's list, one
# item a line (key tags or repositories), then "pages N".
walk() {
	local url=$1 key=$2 pages=0 link
	while [ -n "$url" ] && [ "$pages" -lt 20 ]; do
		get "$base$url" >/dev/null
		json "'\n'.join(d['$key'])" <"$T_DIR/get.b" | sed '/^$/d'
		pages=$((pages + 1))
		link=$(header "$T_DIR/get.h" Link)
		url=$(printf '%s' "$link" | sed -n 's/^<\([^>]*\)>; rel="next"$/\1/p')
	done
	echo "pages $pages"
}

port=$(free_port)
base="http://127.0.0.1:$port"
conf "$T_DIR/depot.conf" "$port" '{ name = "docker-local"; type = "docker"; },
  { name = "docker-old"; type = "docker"; },
  { name = "helm-local"; type = "helm"; }'
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"

# Test content: a config, two layers, image manifests (OCI and Docker), an
# index, artifacts with a subject, an invalid and a schema 1 manifest.
python3 - "$T_DIR" <<'PY' || bail "cannot build test content"
import hashlib, json, os, sys
d = sys.argv[1]
def write(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return data
def desc(mt, data, **extra):
    r = {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
         "size": len(data)}
    r.update(extra)
    return r
def dump(obj):
    return json.dumps(obj, indent=2).encode()
config = write("config.json", b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
layer1 = write("layer1.bin", os.urandom(3000))
layer2 = write("layer2.bin", os.urandom(5000))
empty = write("empty.json", b"{}")
oci = write("oci.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": desc("application/vnd.oci.image.config.v1+json", config),
    "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", layer1),
               desc("application/vnd.oci.image.layer.v1.tar+gzip", layer2)]}))
write("docker.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": desc("application/vnd.docker.container.image.v1+json", config),
    "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", layer1)]}))
write("index.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [desc("application/vnd.oci.image.manifest.v1+json", oci,
        platform={"architecture": "amd64", "os": "linux"})]}))
unknown = os.urandom(100)
write("unknown.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": desc("application/vnd.oci.image.config.v1+json", config),
    "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", unknown)]}))
def artifact(name, atype, subject, annotations=None):
    m = {"schemaVersion": 2,
         "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "artifactType": atype,
         "config": desc("application/vnd.oci.empty.v1+json", empty),
         "layers": [desc("application/vnd.oci.empty.v1+json", empty)],
         "subject": subject}
    if annotations:
        m["annotations"] = annotations
    write(name, dump(m))
subject = desc("application/vnd.oci.image.manifest.v1+json", oci)
artifact("sbom.json", "application/vnd.example.sbom.v1", subject,
         {"org.example.tool": "gen \"x\" <1>", "org.opencontainers.image.created": "2026-01-01T00:00:00Z"})
artifact("sig.json", "application/vnd.example.sig.v1", subject)
artifact("orphan.json", "application/vnd.example.sig.v1",
         {"mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": "sha256:" + "0" * 64, "size": 10})
write("bad.json", b'{"schemaVersion": 2, "mediaType": ')
write("schema1.json", dump({"schemaVersion": 1, "name": "x/y", "tag": "t",
    "architecture": "amd64", "fsLayers": [], "history": []}))
# descriptors whose sizes do not match the stored blobs
def resized(d, size):
    d = dict(d)
    d["size"] = size
    return d
write("badlayer.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": desc("application/vnd.oci.image.config.v1+json", config),
    "layers": [resized(desc("application/vnd.oci.image.layer.v1.tar+gzip", layer1), 12345)]}))
write("badconfig.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": resized(desc("application/vnd.oci.image.config.v1+json", config), 0),
    "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", layer1)]}))
write("badindex.json", dump({"schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [resized(desc("application/vnd.oci.image.manifest.v1+json", oci), len(oci) + 1)]}))
big = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
       "manifests": [], "annotations": {"pad": "x" * (4 * 1024 * 1024)}}
write("big.json", dump(big))
PY

repo=docker-local/app
oci_d=$(digest_of "$T_DIR/oci.json")
oci_size=$(wc -c <"$T_DIR/oci.json" | tr -d ' ')
index_d=$(digest_of "$T_DIR/index.json")

# --- blobs first (monolithic upload)
st=$(push_blob "$repo" "$T_DIR/config.json")
[ "$st" = 201 ] || bail "monolithic blob upload answered $st, not 201"
for f in layer1.bin layer2.bin empty.json; do
	is "$(push_blob "$repo" "$T_DIR/$f")" 201 "blob $f pushed"
done

# --- push and pull an OCI image manifest
is "$(put "$repo" v1 "$T_DIR/oci.json" "$MT_OCI")" 201 "PUT manifest by tag answers 201"
is "$(header "$T_DIR/put.h" Docker-Content-Digest)" "$oci_d" "PUT answers the manifest digest"
is "$(header "$T_DIR/put.h" Location)" "$base/v2/$repo/manifests/$oci_d" "PUT answers the manifest's absolute location"
is "$(header "$T_DIR/put.h" OCI-Subject)" "" "no OCI-Subject for a manifest without subject"

is "$(get "$base/v2/$repo/manifests/v1")" 200 "GET by tag answers 200"
check "GET by tag returns the pushed bytes" cmp "$T_DIR/get.b" "$T_DIR/oci.json"
is "$(header "$T_DIR/get.h" Content-Type)" "$MT_OCI" "GET answers the stored media type"
is "$(header "$T_DIR/get.h" Docker-Content-Digest)" "$oci_d" "GET answers Docker-Content-Digest"
is "$(header "$T_DIR/get.h" ETag)" "\"$oci_d\"" "GET answers the digest as ETag"
is "$(header "$T_DIR/get.h" Content-Length)" "$oci_size" "GET answers Content-Length"

is "$(get "$base/v2/$repo/manifests/v1" -I)" 200 "HEAD by tag answers 200"
is "$(header "$T_DIR/get.h" Content-Length)" "$oci_size" "HEAD answers the manifest's Content-Length"
is "$(header "$T_DIR/get.h" Docker-Content-Digest)" "$oci_d" "HEAD answers Docker-Content-Digest"
check "HEAD sends no body on a kept-alive connection" python3 - "$port" "/v2/$repo/manifests/v1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
req = "%s %s HTTP/1.1\r\nHost: t\r\n\r\n"
s.sendall((req % ("HEAD", sys.argv[2]) + req % ("GET", "/v2/")).encode())
data = b""
while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"{}"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, rest = data.split(b"\r\n\r\n", 1)
sys.exit(0 if rest.startswith(b"HTTP/1.1 200") else "after HEAD: %r" % rest[:80])
PY

is "$(get "$base/v2/$repo/manifests/$oci_d")" 200 "GET by digest answers 200"
check "GET by digest returns the pushed bytes" cmp "$T_DIR/get.b" "$T_DIR/oci.json"
is "$(get "$base/v2/$repo/manifests/$oci_d" -I)" 200 "HEAD by digest answers 200"
is "$(get "$base/v2/docker-local/other/manifests/$oci_d")" 404 "a digest not linked in the repository is 404"
like "$(cat "$T_DIR/get.b")" '"code":"MANIFEST_UNKNOWN"' "... with MANIFEST_UNKNOWN"
is "$(get "$base/v2/$repo/manifests/nosuchtag")" 404 "an unknown tag is 404"
like "$(cat "$T_DIR/get.b")" '"code":"MANIFEST_UNKNOWN"' "... with MANIFEST_UNKNOWN"
is "$(get "$base/v2/$repo/manifests/nosuchtag" -I)" 404 "HEAD of an unknown tag is 404"

# --- Accept negotiation
is "$(put "$repo" multi "$T_DIR/index.json" "$MT_INDEX")" 201 "PUT an OCI index whose manifest is in the repository"
is "$(get "$base/v2/$repo/manifests/multi" -H "Accept: $MT_DOCKER")" 404 \
    "an OCI index is not served to a client that accepts only Docker schema 2"
like "$(cat "$T_DIR/get.b")" '"code":"MANIFEST_UNKNOWN".*Accept' "... MANIFEST_UNKNOWN saying Accept does not list it"
is "$(get "$base/v2/$repo/manifests/multi" -H "Accept: $MT_DOCKER" -H "Accept: $MT_INDEX")" 200 \
    "every Accept header counts"
is "$(header "$T_DIR/get.h" Content-Type)" "$MT_INDEX" "... and the index comes with its media type"
is "$(get "$base/v2/$repo/manifests/multi" -H "Accept: $MT_DOCKER, $MT_INDEX;q=0.5")" 200 \
    "a comma separated Accept lists several types"
is "$(get "$base/v2/$repo/manifests/multi")" 200 "no Accept header accepts anything"
is "$(put "$repo" docker "$T_DIR/docker.json" "$MT_DOCKER")" 201 "PUT a Docker schema 2 manifest"
is "$(get "$base/v2/$repo/manifests/docker" -H "Accept: $MT_DOCKER")" 200 "Docker schema 2 served to a Docker client"
is "$(header "$T_DIR/get.h" Content-Type)" "$MT_DOCKER" "... as Docker schema 2"

# --- refused pushes
is "$(put "$repo" t "$T_DIR/unknown.json" "$MT_OCI")" 400 "a manifest with an unknown layer is refused"
like "$(cat "$T_DIR/put.b")" "\"code\":\"MANIFEST_BLOB_UNKNOWN\".*sha256:" "... MANIFEST_BLOB_UNKNOWN naming the digest"
is "$(put docker-local/other t "$T_DIR/oci.json" "$MT_OCI")" 400 "blobs of another repository do not count"
like "$(cat "$T_DIR/put.b")" '"code":"MANIFEST_BLOB_UNKNOWN"' "... MANIFEST_BLOB_UNKNOWN"
is "$(put docker-local/other t "$T_DIR/index.json" "$MT_INDEX")" 400 "an index whose manifest is not in the repository is refused"
like "$(cat "$T_DIR/put.b")" "\"code\":\"MANIFEST_BLOB_UNKNOWN\",.*\"$oci_d\"" "... naming the missing manifest"
is "$(put "$repo" "$index_d" "$T_DIR/oci.json" "$MT_OCI")" 400 "PUT by a digest that does not match is refused"
like "$(cat "$T_DIR/put.b")" '"code":"DIGEST_INVALID"' "... with DIGEST_INVALID"
is "$(put "$repo" t "$T_DIR/bad.json" "$MT_OCI")" 400 "invalid JSON is refused"
like "$(cat "$T_DIR/put.b")" '"code":"MANIFEST_INVALID"' "... with MANIFEST_INVALID"
is "$(put "$repo" t "$T_DIR/schema1.json" application/vnd.docker.distribution.manifest.v1+json)" 400 \
    "a Docker schema 1 manifest is refused"
like "$(cat "$T_DIR/put.b")" '"code":"MANIFEST_INVALID".*schema 1' "... with MANIFEST_INVALID saying schema 1"
is "$(put "$repo" t "$T_DIR/big.json" "$MT_INDEX")" 413 "a manifest over 4 MiB is refused with 413"
is "$(put "$repo" -bad "$T_DIR/oci.json" "$MT_OCI")" 400 "an invalid tag is refused"
like "$(cat "$T_DIR/put.b")" '"code":"TAG_INVALID"' "... with TAG_INVALID"
is "$(put "$repo" 'v1:2.3' "$T_DIR/oci.json" "$MT_OCI")" 400 "a tag with a colon is refused"
like "$(cat "$T_DIR/put.b")" '"code":"TAG_INVALID"' "... with TAG_INVALID, not as a digest"
is "$(put "$repo" 'sha256:xyz' "$T_DIR/oci.json" "$MT_OCI")" 400 "a malformed digest reference is refused"
like "$(cat "$T_DIR/put.b")" '"code":"DIGEST_INVALID","message":"[^"]*malformed' "... with DIGEST_INVALID saying it is malformed"
is "$(put "$repo" t "$T_DIR/badlayer.json" "$MT_OCI")" 400 "a layer descriptor with the wrong size is refused"
like "$(cat "$T_DIR/put.b")" '"code":"MANIFEST_INVALID".*12345' "... with MANIFEST_INVALID naming the size"
is "$(put "$repo" t "$T_DIR/badconfig.json" "$MT_OCI")" 400 "a config descriptor of size 0 is refused"
like "$(cat "$T_DIR/put.b")" '"code":"MANIFEST_INVALID"' "... with MANIFEST_INVALID"
is "$(put "$repo" t "$T_DIR/badindex.json" "$MT_INDEX")" 400 "an index entry with the wrong size is refused"
like "$(cat "$T_DIR/put.b")" '"code":"MANIFEST_INVALID"' "... with MANIFEST_INVALID"
is "$(get "$base/v2/$repo/manifests/t")" 404 "... and none of them was stored"

# --- reads of a reference that cannot be a tag find nothing (conformance)
is "$(get "$base/v2/$repo/manifests/.INVALID_MANIFEST_NAME")" 404 "GET of an invalid tag is 404"
like "$(cat "$T_DIR/get.b")" '"code":"MANIFEST_UNKNOWN"' "... with MANIFEST_UNKNOWN"
is "$(get "$base/v2/$repo/manifests/.INVALID_MANIFEST_NAME" -I)" 404 "HEAD of an invalid tag is 404"
is "$(get "$base/v2/hub/library/alpine/manifests/.INVALID_MANIFEST_NAME")" 404 "... also through an upstream key"
like "$(cat "$T_DIR/get.b")" '"code":"MANIFEST_UNKNOWN"' "... with MANIFEST_UNKNOWN"
is "$(get "$base/v2/$repo/manifests/sha256:xyz")" 400 "GET of a malformed digest is still 400"
like "$(cat "$T_DIR/get.b")" '"code":"DIGEST_INVALID"' "... with DIGEST_INVALID"
is "$(put hub/library/alpine latest "$T_DIR/oci.json" "$MT_OCI")" 405 "push to an upstream key is refused with 405"
like "$(cat "$T_DIR/put.b")" '"code":"UNSUPPORTED"' "... with UNSUPPORTED"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/hub/library/alpine/manifests/latest")" 405 \
    "delete on an upstream key is refused with 405"
is "$(get "$base/v2/$repo/manifests/t")" 404 "nothing refused was tagged"

# --- push by digest, sha256 and sha512
is "$(put "$repo" "$oci_d" "$T_DIR/oci.json" "$MT_OCI")" 201 "PUT by its own digest answers 201"
is "$(header "$T_DIR/put.h" Docker-Content-Digest)" "$oci_d" "... with that digest"
sha512="sha512:$(sha512sum "$T_DIR/oci.json" | cut -d' ' -f1)"
is "$(put "$repo" "$sha512" "$T_DIR/oci.json" "$MT_OCI")" 201 "PUT by a sha512 digest hashes with sha512"
is "$(header "$T_DIR/put.h" Docker-Content-Digest)" "$sha512" "... and answers the sha512 digest"
is "$(get "$base/v2/$repo/manifests/$sha512")" 200 "GET by the sha512 digest answers 200"
check "... with the pushed bytes" cmp "$T_DIR/get.b" "$T_DIR/oci.json"

# --- referrers
is "$(get "$base/v2/$repo/referrers/$oci_d")" 200 "referrers of a manifest without any answer 200"
is "$(json "len(d['manifests'])" <"$T_DIR/get.b")" 0 "... with an empty index"
is "$(put "$repo" sbom "$T_DIR/sbom.json" "$MT_OCI")" 201 "PUT an artifact with a subject"
is "$(header "$T_DIR/put.h" OCI-Subject)" "$oci_d" "... answers OCI-Subject"
sbom_d=$(header "$T_DIR/put.h" Docker-Content-Digest)
is "$(put "$repo" "$(digest_of "$T_DIR/sig.json")" "$T_DIR/sig.json" "$MT_OCI")" 201 "PUT a second artifact by digest"
is "$(put "$repo" orphan "$T_DIR/orphan.json" "$MT_OCI")" 201 "the subject of an artifact need not exist"
is "$(get "$base/v2/$repo/referrers/$oci_d")" 200 "GET referrers answers 200"
is "$(header "$T_DIR/get.h" Content-Type)" "$MT_INDEX" "... as an OCI index"
is "$(header "$T_DIR/get.h" OCI-Filters-Applied)" "" "... without OCI-Filters-Applied when not filtered"
is "$(json "d['schemaVersion'], d['mediaType'], len(d['manifests'])" <"$T_DIR/get.b")" \
    "(2, '$MT_INDEX', 2)" "... listing both artifacts"
is "$(json "[m for m in d['manifests'] if m['digest'] == '$sbom_d'][0]['artifactType']" <"$T_DIR/get.b")" \
    application/vnd.example.sbom.v1 "... with their artifactType"
is "$(json "[m for m in d['manifests'] if m['digest'] == '$sbom_d'][0]['annotations']['org.example.tool']" <"$T_DIR/get.b")" \
    'gen "x" <1>' "... and their annotations"
is "$(json "[m for m in d['manifests'] if m['digest'] == '$sbom_d'][0]['size']" <"$T_DIR/get.b")" \
    "$(wc -c <"$T_DIR/sbom.json" | tr -d ' ')" "... and their size"
is "$(json "[m['mediaType'] for m in d['manifests']]" <"$T_DIR/get.b")" "['$MT_OCI', '$MT_OCI']" "... and media type"
is "$(get "$base/v2/$repo/referrers/$oci_d?artifactType=application/vnd.example.sig.v1")" 200 \
    "GET referrers filtered by artifactType answers 200"
is "$(header "$T_DIR/get.h" OCI-Filters-Applied)" artifactType "... with OCI-Filters-Applied: artifactType"
is "$(json "[m['artifactType'] for m in d['manifests']]" <"$T_DIR/get.b")" \
    "['application/vnd.example.sig.v1']" "... and only the matching artifact"
is "$(get "$base/v2/$repo/referrers/$oci_d?artifactType=application/none")" 200 "a filter matching nothing answers 200"
is "$(json "len(d['manifests'])" <"$T_DIR/get.b")" 0 "... with an empty index"
is "$(get "$base/v2/docker-local/other/referrers/$oci_d")" 200 "referrers are per repository"
is "$(json "len(d['manifests'])" <"$T_DIR/get.b")" 0 "... none in another repository"

# --- tags list and its pagination
is "$(get "$base/v2/$repo/tags/list")" 200 "tags list answers 200"
is "$(header "$T_DIR/get.h" Content-Type)" application/json "... as application/json"
is "$(json "d['name'], d['tags']" <"$T_DIR/get.b")" "('$repo', ['docker', 'multi', 'orphan', 'sbom', 'v1'])" \
    "... with every tag in lexical order"
is "$(header "$T_DIR/get.h" Link)" "" "... and no Link when complete"
is "$(get "$base/v2/$repo/tags/list?n=0")" 200 "n=0 answers 200"
is "$(json "d['tags']" <"$T_DIR/get.b")" "[]" "... with an empty list"
is "$(header "$T_DIR/get.h" Link)" "" "... and no Link"
is "$(get "$base/v2/$repo/tags/list?n=2")" 200 "n=2 answers 200"
is "$(json "d['tags']" <"$T_DIR/get.b")" "['docker', 'multi']" "... with the first two tags"
is "$(header "$T_DIR/get.h" Link)" "</v2/$repo/tags/list?last=multi&n=2>; rel=\"next\"" "... and a Link to the next page"
is "$(walk "/v2/$repo/tags/list?n=1" tags | tr '\n' ' ')" "docker multi orphan sbom v1 pages 5 " \
    "walking with n=1 and Link visits every tag once"
is "$(get "$base/v2/$repo/tags/list?n=5")" 200 "n equal to the number of tags"
is "$(header "$T_DIR/get.h" Link)" "" "... has no Link"
is "$(get "$base/v2/$repo/tags/list?last=sbom")" 200 "last without n answers 200"
is "$(json "d['tags']" <"$T_DIR/get.b")" "['v1']" "... with the tags after last"
is "$(get "$base/v2/$repo/tags/list?last=zzz&n=3")" 200 "last beyond the end answers 200"
is "$(json "d['tags']" <"$T_DIR/get.b")" "[]" "... with an empty list"
is "$(header "$T_DIR/get.h" Link)" "" "... and no Link"
is "$(get "$base/v2/$repo/tags/list?n=-1")" 400 "a negative n is refused"
is "$(get "$base/v2/$repo/tags/list?n=abc")" 400 "a non-numeric n is refused"
is "$(get "$base/v2/docker-local/nosuch/tags/list")" 404 "tags of an unknown repository is 404"
like "$(cat "$T_DIR/get.b")" '"code":"NAME_UNKNOWN"' "... with NAME_UNKNOWN"
is "$(get "$base/v2/docker-local/nosuch/tags/list?n=0")" 404 "... also with n=0"
is "$(push_blob docker-local/blobsonly "$T_DIR/layer1.bin")" 201 "a blob pushed into a new repository"
is "$(get "$base/v2/docker-local/blobsonly/tags/list")" 200 "a repository with blobs and no tags lists its tags"
is "$(json "d['tags']" <"$T_DIR/get.b")" "[]" "... as an empty list"

# --- delete
is "$(put "$repo" v1copy "$T_DIR/oci.json" "$MT_OCI")" 201 "a second tag on the same manifest"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/$repo/manifests/v1")" 202 "DELETE a tag answers 202"
is "$(get "$base/v2/$repo/manifests/v1")" 404 "the deleted tag is gone"
is "$(get "$base/v2/$repo/manifests/v1copy")" 200 "the other tag still serves the manifest"
is "$(get "$base/v2/$repo/manifests/$oci_d")" 200 "the manifest is still there by digest"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/$repo/manifests/v1")" 404 "DELETE an unknown tag is 404"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/$repo/manifests/$sbom_d")" 202 \
    "DELETE an artifact by digest answers 202"
is "$(get "$base/v2/$repo/referrers/$oci_d")" 200 "referrers after the delete"
is "$(json "len(d['manifests'])" <"$T_DIR/get.b")" 1 "... no longer list the deleted artifact"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/$repo/manifests/$oci_d")" 202 \
    "DELETE a manifest by digest answers 202"
is "$(get "$base/v2/$repo/manifests/$oci_d")" 404 "the manifest is gone by digest"
is "$(get "$base/v2/$repo/manifests/v1copy")" 404 "... and its tags are gone with it"
is "$(get "$base/v2/$repo/tags/list")" 200 "tags list after the deletes"
is "$(json "d['tags']" <"$T_DIR/get.b")" "['docker', 'multi', 'orphan']" "... lists the remaining tags"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/$repo/manifests/$oci_d")" 404 \
    "DELETE an unlinked digest is 404"
like "$(curl -s -X DELETE "$base/v2/$repo/manifests/$oci_d")" '"code":"MANIFEST_UNKNOWN"' "... with MANIFEST_UNKNOWN"

# --- catalog
for r in docker-local/a docker-local/b/c docker-old/x; do
	push_blob "$r" "$T_DIR/empty.json" >/dev/null
done
is "$(get "$base/v2/_catalog")" 200 "catalog answers 200"
is "$(header "$T_DIR/get.h" Content-Type)" application/json "... as application/json"
all="['docker-local/a', 'docker-local/app', 'docker-local/b/c', 'docker-local/blobsonly', 'docker-old/x']"
is "$(json "d['repositories']" <"$T_DIR/get.b")" "$all" "... listing every repository in lexical order"
is "$(header "$T_DIR/get.h" Link)" "" "... without Link when complete"
is "$(walk "/v2/_catalog?n=2" repositories | tr '\n' ' ')" \
    "docker-local/a docker-local/app docker-local/b/c docker-local/blobsonly docker-old/x pages 3 " \
    "walking the catalog with n=2 and Link visits every repository once"
is "$(get "$base/v2/_catalog?n=0")" 200 "catalog with n=0 answers 200"
is "$(json "d['repositories']" <"$T_DIR/get.b")" "[]" "... with an empty list"
is "$(get "$base/v2/_catalog?last=docker-local/b/c&n=1")" 200 "catalog after last"
is "$(json "d['repositories']" <"$T_DIR/get.b")" "['docker-local/blobsonly']" "... starts after last"
like "$(header "$T_DIR/get.h" Link)" "^</v2/_catalog\\?last=docker-local(/|%2F)blobsonly&n=1>; rel=\"next\"\$" \
    "... with a Link to the next page"
is "$(get "$base/v2/_catalog?n=x")" 400 "catalog refuses a bad n"

# A registry removed from the configuration drops out of the catalog.
stop_depotd "$DEPOTD_PID"
conf "$T_DIR/depot.conf" "$port" '{ name = "docker-local"; type = "docker"; }'
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not restart"
is "$(get "$base/v2/_catalog")" 200 "catalog after a registry left the configuration"
is "$(json "'docker-old/x' in d['repositories'], len(d['repositories'])" <"$T_DIR/get.b")" "(False, 4)" \
    "... lists only repositories of configured registries"
is "$(get "$base/v2/_catalog?n=3")" 200 "a page of that catalog"
is "$(header "$T_DIR/get.h" Link)" "</v2/_catalog?last=docker-local%2Fb%2Fc&n=3>; rel=\"next\"" \
    "... links on while a listed repository remains"
is "$(get "$base/v2/_catalog?n=4")" 200 "the page that holds the last listed repository"
is "$(header "$T_DIR/get.h" Link)" "" "... has no Link though unlisted ones follow"
is "$(get "$base/v2/docker-local/app/manifests/multi")" 200 "content survives the restart"
stop_depotd "$DEPOTD_PID"
is "$?" 0 "depotd stops cleanly"
