#!/bin/sh
# oci_edges.sh: hostile and odd upload requests found in review: an
# overlong chunk-size line, a Content-Range at the int64 limit, a
# monolithic upload on the path without its trailing slash, a manifest
# pushed to a repository whose name ends in blobs/uploads/x, a session
# whose file was already committed as a blob, Content-Range totals, a
# malformed digest on the final PUT, Range numbers past int64, a %00 in
# a query value and the Content-Range of a final PUT.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"
command -v python3 >/dev/null || skip_all "python3 is not installed"

port=$(free_port)
base="http://127.0.0.1:$port"
data="$T_DIR/data-$port"
write_conf "$T_DIR/depot.conf" "$port"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID
workers=$(workers_of "$master")

# location: POST a new upload session to REPO, print its path.
location() {
	curl -s -D - -o /dev/null -X POST "$base/v2/$1/blobs/uploads/" |
	    tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }' |
	    sed 's#^https\{0,1\}://[^/]*##'
}

# --- an overlong chunk-size line (4096 bytes with its extension)
loc=$(location docker-local/edge)
out=$(python3 - "$port" "$loc" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
line = b"1;" + b"a" * 4094
s.sendall(b"PATCH " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: x\r\n"
          b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
          line + b"\r\nx\r\n0\r\n\r\n")
s.settimeout(60)
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except socket.timeout:
    pass
print(data.split(b"\r\n")[0].decode(errors="replace"))
PY
)
like "$out" "^HTTP/1.1 (202|400)" "a 4096-byte chunk-size line gets an answer"
is "$(workers_of "$master")" "$workers" "no worker died of the long chunk line"

# --- Content-Range at the int64 limit
loc=$(location docker-local/edge)
code=$(printf 'abc' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    -H 'Content-Range: 0-9223372036854775807' -H 'Transfer-Encoding: chunked' \
    --data-binary @- "$base$loc")
is "$code" 416 "a Content-Range at the int64 limit is refused (416)"
is "$(workers_of "$master")" "$workers" "no worker died of the huge Content-Range"

# --- monolithic upload of 5 MB without the trailing slash streams too
head -c 5000000 /dev/urandom >"$T_DIR/big"
d="sha256:$(sha256sum "$T_DIR/big" | cut -d' ' -f1)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T_DIR/big" "$base/v2/docker-local/edge/blobs/uploads?digest=$d")
is "$code" 201 "POST ...blobs/uploads?digest= (no slash) with 5 MB is accepted"

# --- a manifest PUT to a repository named .../blobs/uploads/x
cfg='{}'
cd_="sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)"
repo=docker-local/a/blobs/uploads/b
curl -s -o /dev/null -X POST --data-binary "$cfg" "$base/v2/$repo/blobs/uploads/?digest=$cd_"
man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' "$cd_")
code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "$man" "$base/v2/$repo/manifests/v1")
is "$code" 201 "a manifest PUT to a repository ending in blobs/uploads/b is not taken for an upload"

# --- a session whose file is already a committed blob is never written
loc=$(location docker-local/edge)
id=${loc##*/}
printf 'committed' >"$T_DIR/part"
curl -s -o /dev/null -X PATCH --data-binary @"$T_DIR/part" "$base$loc"
hex=$(sha256sum "$T_DIR/part" | cut -d' ' -f1)
mkdir -p "$data/blobs/sha256/$(echo "$hex" | cut -c1-2)"
blob="$data/blobs/sha256/$(echo "$hex" | cut -c1-2)/$hex"
# what a commit that died between link() and the end of the session leaves
ln "$data/tmp/upload-$id" "$blob"
code=$(printf 'more' | curl -s -o "$T_DIR/out" -w '%{http_code}' -X PATCH --data-binary @- "$base$loc")
check "a PATCH to such a session is refused" test "$code" != 202
is "$(sha256sum "$blob" | cut -d' ' -f1)" "$hex" "the committed blob keeps its content"

# --- a Content-Range whose total is smaller than its end
loc=$(location docker-local/edge)
code=$(printf '0123456789' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    -H 'Content-Range: 0-9/5' --data-binary @- "$base$loc")
is "$code" 416 "Content-Range 0-9/5 (end past the total) is refused (416)"
code=$(printf '0123456789' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    -H 'Content-Range: 0-9/x' --data-binary @- "$base$loc")
is "$code" 416 "Content-Range 0-9/x (no number) is refused (416)"
code=$(printf '0123456789' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    -H 'Content-Range: 0-9/*' --data-binary @- "$base$loc")
is "$code" 202 "Content-Range 0-9/* (unknown total) is taken"
code=$(printf '0123456789' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    -H 'Content-Range: 10-19/5' --data-binary @- "$base$loc")
is "$code" 416 "Content-Range 10-19/5 is refused (416)"
code=$(printf '0123456789' | curl -s -o /dev/null -w '%{http_code}' -X PATCH \
    -H 'Content-Range: 10-19/20' --data-binary @- "$base$loc")
is "$code" 202 "Content-Range 10-19/20 is taken"

# --- a malformed digest on the final PUT
code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' -X PUT "$base$loc?digest=sha256:xyz")
is "$code" 400 "PUT ?digest=sha256:xyz is refused (400)"
like "$(cat "$T_DIR/out")" '"code":"DIGEST_INVALID","message":"[^"]*malformed' \
    "... DIGEST_INVALID saying the digest is malformed"
check "... not that it did not match" sh -c "! grep -q 'did not match' '$T_DIR/out'"
is "$(curl -s -o /dev/null -w '%{http_code}' "$base$loc")" 204 "... and the session goes on"

# --- Range headers with numbers past any blob
for r in 'bytes=9223372036854775807-' 'bytes=9223372036854775808-' \
    'bytes=99999999999999999999999-' 'bytes=5000000-'; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Range: $r" \
	    "$base/v2/docker-local/edge/blobs/$d")
	is "$code" 416 "Range: $r is not satisfiable (416)"
done
code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' -H 'Range: bytes=4999999-99999999999999999999' \
    "$base/v2/docker-local/edge/blobs/$d")
is "$code" 206 "Range: bytes=4999999-<huge> serves the last byte (206)"
is "$(wc -c <"$T_DIR/out" | tr -d ' ')" 1 "... one byte"
code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' -H 'Range: bytes=-99999999999999999999' \
    "$base/v2/docker-local/edge/blobs/$d")
is "$code" 206 "Range: bytes=-<huge> serves the whole blob (206)"
is "$(wc -c <"$T_DIR/out" | tr -d ' ')" 5000000 "... all of it"

# --- a %00 in a query value is refused, never cut short
head -c 3000 /dev/urandom >"$T_DIR/nul"
dn="sha256:$(sha256sum "$T_DIR/nul" | cut -d' ' -f1)"
loc=$(location docker-local/nul)
code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' -X PUT --data-binary @"$T_DIR/nul" \
    "$base$loc?digest=$dn%00junk")
is "$code" 400 "a final PUT whose digest has a %00 in it is refused (400)"
like "$(cat "$T_DIR/out")" '"code":"DIGEST_INVALID"' "... with DIGEST_INVALID"
is "$(curl -s -o /dev/null -w '%{http_code}' -I "$base/v2/docker-local/nul/blobs/$dn")" 404 \
    "... and nothing is stored"
code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' "$base/v2/docker-local/nul/tags/list?n=1%00x")
is "$code" 400 "any query value with a %00 in it is refused (400)"
like "$(cat "$T_DIR/out")" 'invalid query encoding' "... saying why"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$T_DIR/nul" \
    "$base$loc?digest=$dn&x=%2500")" 201 "a %2500 (a literal %00) is not a NUL"

# --- the final PUT's Content-Range is checked as a PATCH's is
head -c 3000 /dev/urandom >"$T_DIR/cr"
dcr="sha256:$(sha256sum "$T_DIR/cr" | cut -d' ' -f1)"
head -c 1000 "$T_DIR/cr" >"$T_DIR/cr.1"
tail -c +1001 "$T_DIR/cr" >"$T_DIR/cr.2"
loc=$(location docker-local/cr)
is "$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Range: 0-999' \
    --data-binary @"$T_DIR/cr.1" "$base$loc")" 202 "a first chunk of 1000 bytes is taken"
code=$(curl -s -D "$T_DIR/h" -o "$T_DIR/out" -w '%{http_code}' -X PUT -H 'Content-Range: 0-1999' \
    --data-binary @"$T_DIR/cr.2" "$base$loc?digest=$dcr")
is "$code" 416 "a final PUT whose Content-Range does not start at the offset is refused (416)"
like "$(tr -d '\r' <"$T_DIR/h")" 'Range: 0-999' "... telling the offset"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Range: 1000-1999' \
    --data-binary @"$T_DIR/cr.2" "$base$loc?digest=$dcr")
is "$code" 416 "a final PUT whose Content-Range length differs from its body is refused (416)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Range: 1000-2999' \
    --data-binary @"$T_DIR/cr.2" "$base$loc?digest=$dcr")
is "$code" 201 "a final PUT with the right Content-Range commits (201)"
curl -s -o "$T_DIR/out" "$base/v2/docker-local/cr/blobs/$dcr"
check "... the whole blob" cmp "$T_DIR/out" "$T_DIR/cr"
loc=$(location docker-local/cr)
curl -s -o /dev/null -X PATCH --data-binary @"$T_DIR/cr" "$base$loc"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Range: 0-2999' \
    "$base$loc?digest=$dcr")" 201 "a final PUT without a body ignores a Content-Range"

# --- abandoned upload sessions expire; read-only registries refuse writes
stop_depotd "$master"
port2=$(free_port)
base2="http://127.0.0.1:$port2"
write_conf "$T_DIR/short.conf" "$port2" "upload_expiry = 2;"
sed -i 's/^  { name = "docker-local"; type = "docker"; }$/  { name = "docker-local"; type = "docker"; },\n  { name = "frozen"; type = "docker"; read_only = true; }/' "$T_DIR/short.conf"
start_depotd "$T_DIR/short.conf" "$port2" || bail "depotd did not start with upload_expiry = 2"
base=$base2
loc=$(location docker-local/idle)
id=${loc##*/}
printf 'abandoned' | curl -s -o /dev/null -X PATCH --data-binary @- "$base$loc"
check "the session's data exists" test -f "$T_DIR/data-$port2/tmp/upload-$id"
i=0
while [ -f "$T_DIR/data-$port2/tmp/upload-$id" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "an idle session's data is removed after upload_expiry" test ! -e "$T_DIR/data-$port2/tmp/upload-$id"
is "$(curl -s -o /dev/null -w '%{http_code}' "$base$loc")" 404 "the expired session is unknown (404)"
like "$(cat "$T_DIR/depotd-$port2.log")" "expired 1 abandoned upload" "expiry is logged"

code=$(curl -s -o "$T_DIR/out" -w '%{http_code}' -X POST "$base/v2/frozen/img/blobs/uploads/")
is "$code" 405 "a push into a read-only registry is 405"
like "$(cat "$T_DIR/out")" '"code":"UNSUPPORTED"' "with the UNSUPPORTED error code"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/v2/frozen/img/manifests/sha256:$(printf '%064d' 0)")" 405 "a delete in a read-only registry is 405"
is "$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/frozen/img/manifests/latest")" 404 "reads of a read-only registry still work (404 for nothing)"
