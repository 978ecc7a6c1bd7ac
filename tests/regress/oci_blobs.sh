#!/bin/sh
# oci_blobs.sh: pushing and pulling blobs over the OCI distribution API:
# monolithic and chunked uploads, streamed bodies with bounded memory,
# sessions that span workers and survive a worker's death, mounts, range
# requests, deletes, body size limits, Location URLs, clients that
# leave in the middle of a body, and a loop that keeps answering while a
# large upload is committed.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"
command -v python3 >/dev/null || skip_all "python3 is not installed"

# Under AddressSanitizer freed memory sits in a quarantine (256 MB by
# default) that would hide what the worker really keeps; keep it small.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"
export ASAN_OPTIONS

port=$(free_port)
base="http://127.0.0.1:$port"
data="$T_DIR/data-$port"
write_conf "$T_DIR/depot.conf" "$port" "" 'upstreams = (
  { key = "hub"; type = "docker"; source = "custom"; url = "http://127.0.0.1:9"; auth = { type = "anonymous"; }; }
);'
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID

# req METHOD URL [curl args]: headers to $T_DIR/h, body to $T_DIR/b;
# prints the status.
req() {
	local m=$1 u=$2
	shift 2
	curl -s -X "$m" -D "$T_DIR/h" -o "$T_DIR/b" -w '%{http_code}' "$@" "$u"
}
# hdr NAME: a header of the last req (the final answer's).
hdr() {
	tr -d '\r' <"$T_DIR/h" | awk -v k="$1" '
	    /^HTTP\// { v = "" }
	    tolower(substr($0, 1, length(k) + 1)) == tolower(k) ":" {
		v = substr($0, length(k) + 2); sub(/^[ \t]*/, "", v) }
	    END { print v }'
}
body() {
	cat "$T_DIR/b"
}
sha() {
	sha256sum "$1" | cut -d' ' -f1
}
# start_upload REPO: POST a new session; prints its Location.
start_upload() {
	req POST "$base/v2/$1/blobs/uploads/" >/dev/null
	hdr Location
}
max_hwm() {
	local w m=0 k
	for w in $(workers_of "$master"); do
		k=$(awk '/^VmHWM:/ { print $2 }' "/proc/$w/status" 2>/dev/null)
		[ -n "$k" ] && [ "$k" -gt "$m" ] && m=$k
	done
	echo "$m"
}

head -c 300000 /dev/urandom >"$T_DIR/blob1"
d1="sha256:$(sha "$T_DIR/blob1")"
head -c 1000 "$T_DIR/blob1" >"$T_DIR/c1"
tail -c +1001 "$T_DIR/blob1" | head -c 200000 >"$T_DIR/c2"
tail -c +201001 "$T_DIR/blob1" >"$T_DIR/c3"

# --- monolithic POST ?digest=
code=$(req POST "$base/v2/docker-local/mono/blobs/uploads/?digest=$d1" \
    -H 'Content-Type: application/octet-stream' --data-binary @"$T_DIR/blob1")
is "$code" 201 "monolithic POST ?digest= answers 201"
is "$(hdr Location)" "$base/v2/docker-local/mono/blobs/$d1" "monolithic POST: Location of the blob"
is "$(hdr Docker-Content-Digest)" "$d1" "monolithic POST: Docker-Content-Digest"
curl -s -o "$T_DIR/got" "$base/v2/docker-local/mono/blobs/$d1"
check "monolithic POST: the blob reads back" cmp "$T_DIR/got" "$T_DIR/blob1"

# --- POST then PUT with the whole body
loc=$(start_upload docker-local/two)
like "$loc" "^$base/v2/docker-local/two/blobs/uploads/[0-9a-f]{32}\$" "POST: Location of the session, 32 hex id"
is "$(hdr Range)" "0-0" "POST: Range 0-0 before any data"
is "$(hdr Docker-Upload-UUID)" "${loc##*/}" "POST: Docker-Upload-UUID is the id"
is "$(hdr Content-Length)" 0 "POST: Content-Length 0"
code=$(req PUT "$loc?digest=$d1" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T_DIR/blob1")
is "$code" 201 "PUT with the whole body answers 201"
is "$(hdr Location)" "$base/v2/docker-local/two/blobs/$d1" "PUT: Location of the blob"
check "PUT: no temp file left" test ! -e "$data/tmp/upload-${loc##*/}"

# --- three PATCHes with Content-Range, then PUT
loc=$(start_upload docker-local/chunks)
id=${loc##*/}
code=$(req PATCH "$loc" -H 'Content-Range: 0-999' --data-binary @"$T_DIR/c1")
is "$code" 202 "PATCH 1 answers 202"
is "$(hdr Range)" "0-999" "PATCH 1: Range 0-999"
is "$(hdr Location)" "$loc" "PATCH 1: Location of the session"
code=$(req PATCH "$loc" -H 'Content-Range: 1000-200999' --data-binary @"$T_DIR/c2")
is "$code:$(hdr Range)" "202:0-200999" "PATCH 2 answers 202, Range 0-200999"
code=$(req PATCH "$loc" -H 'Content-Range: 999-1999' --data-binary @"$T_DIR/c1")
is "$code" 416 "an out-of-order PATCH answers 416"
is "$(hdr Range)" "0-200999" "416 tells the current Range"
like "$(body)" '"code":"RANGE_INVALID"' "416 has RANGE_INVALID"
code=$(req GET "$loc")
is "$code" 204 "GET of the session answers 204"
is "$(hdr Range):$(hdr Docker-Upload-UUID)" "0-200999:$id" "GET of the session: Range and Docker-Upload-UUID"
code=$(req PATCH "$loc" -H 'Content-Range: 201000-299999' --data-binary @"$T_DIR/c3")
is "$code:$(hdr Range)" "202:0-299999" "PATCH 3 answers 202, Range 0-299999"
code=$(req PUT "$loc?digest=$d1")
is "$code" 201 "PUT without body after the chunks answers 201"
is "$(hdr Docker-Content-Digest)" "$d1" "chunked upload: Docker-Content-Digest"
curl -s -o "$T_DIR/got" "$base/v2/docker-local/chunks/blobs/$d1"
check "chunked upload: the blob reads back" cmp "$T_DIR/got" "$T_DIR/blob1"
is "$(req GET "$loc")" 404 "the finished session is gone"

# --- digest mismatch
head -c 5000 /dev/urandom >"$T_DIR/other"
dother="sha256:$(sha "$T_DIR/other")"
loc=$(start_upload docker-local/bad)
req PATCH "$loc" --data-binary @"$T_DIR/blob1" >/dev/null
code=$(req PUT "$loc?digest=$dother")
is "$code" 400 "PUT with the wrong digest answers 400"
like "$(body)" '"code":"DIGEST_INVALID"' "wrong digest is DIGEST_INVALID"
is "$(req GET "$base/v2/docker-local/bad/blobs/$dother")" 404 "a mismatched blob is not stored"
is "$(req GET "$base/v2/docker-local/bad/blobs/$d1")" 404 "nor linked under its real digest"
is "$(req GET "$loc")" 404 "the session ends with the mismatch"
check "the mismatched data is removed" test ! -e "$data/tmp/upload-${loc##*/}"
is "$(req PUT "$loc?digest=$dother")" 404 "PUT on it afterwards is unknown"

# --- cancel, unknown ids, another repository's id
loc=$(start_upload docker-local/cancel)
req PATCH "$loc" --data-binary @"$T_DIR/c1" >/dev/null
check "the session has its temp file" test -s "$data/tmp/upload-${loc##*/}"
is "$(req DELETE "$loc")" 204 "DELETE of the session answers 204"
check "DELETE removes the temp file" test ! -e "$data/tmp/upload-${loc##*/}"
code=$(req GET "$loc")
is "$code" 404 "a cancelled session is unknown"
like "$(body)" '"code":"BLOB_UPLOAD_UNKNOWN"' "unknown session is BLOB_UPLOAD_UNKNOWN"
code=$(req PATCH "$base/v2/docker-local/x/blobs/uploads/0123456789abcdef0123456789abcdef" \
    --data-binary @"$T_DIR/c1")
is "$code" 404 "PATCH of an unknown id answers 404"
like "$(body)" '"code":"BLOB_UPLOAD_UNKNOWN"' "PATCH of an unknown id is BLOB_UPLOAD_UNKNOWN"
loc=$(start_upload docker-local/mine)
code=$(req PATCH "$base/v2/docker-local/theirs/blobs/uploads/${loc##*/}" --data-binary @"$T_DIR/c1")
is "$code" 404 "an id used under another repository is unknown"
like "$(body)" '"code":"BLOB_UPLOAD_UNKNOWN"' "... with BLOB_UPLOAD_UNKNOWN"
is "$(req GET "$loc"):$(hdr Range)" "204:0-0" "... and the session is untouched"

# --- an early answer while the client still sends (no Expect)
head -c 3000000 /dev/urandom >"$T_DIR/three"
code=$(req PATCH "$base/v2/docker-local/x/blobs/uploads/0123456789abcdef0123456789abcdef" \
    -H 'Expect:' --data-binary @"$T_DIR/three")
is "$code" 404 "an early answer reaches a client that is still sending"
is "$(hdr Connection)" close "an early answer closes the connection"

# --- cross-repository mount
code=$(req POST "$base/v2/docker-local/mounted/blobs/uploads/?mount=$d1&from=docker-local/mono")
is "$code" 201 "mount from a repository that has the blob answers 201"
is "$(hdr Location)" "$base/v2/docker-local/mounted/blobs/$d1" "mount: Location of the blob"
curl -s -o "$T_DIR/got" "$base/v2/docker-local/mounted/blobs/$d1"
check "mount: the blob reads back in the new repository" cmp "$T_DIR/got" "$T_DIR/blob1"
code=$(req POST "$base/v2/docker-local/mounted2/blobs/uploads/?mount=$d1&from=docker-local/empty")
is "$code" 202 "mount from a repository without the blob starts an upload (202)"
like "$(hdr Location)" "/v2/docker-local/mounted2/blobs/uploads/[0-9a-f]{32}\$" "... with the session's Location"
code=$(req POST "$base/v2/docker-local/mounted3/blobs/uploads/?mount=$d1&from=nosuch/repo")
is "$code" 202 "mount from an unknown registry starts an upload (202)"

# --- GET and HEAD of a blob, ranges
size=$(wc -c <"$T_DIR/blob1" | tr -d ' ')
blob="$base/v2/docker-local/mono/blobs/$d1"
code=$(curl -s -I -D "$T_DIR/h" -o /dev/null -w '%{http_code}' "$blob")
is "$code" 200 "HEAD of a blob answers 200"
is "$(hdr Content-Length)" "$size" "HEAD: Content-Length"
is "$(hdr Content-Type)" "application/octet-stream" "HEAD: Content-Type"
is "$(hdr Docker-Content-Digest)" "$d1" "HEAD: Docker-Content-Digest"
is "$(hdr ETag)" "\"$d1\"" "HEAD: ETag"
is "$(hdr Accept-Ranges)" bytes "HEAD: Accept-Ranges"
code=$(req GET "$blob")
is "$code:$(hdr Content-Length)" "200:$size" "GET of a blob: 200 and Content-Length"
check "GET: the body is the blob" cmp "$T_DIR/b" "$T_DIR/blob1"
code=$(req GET "$blob" -H 'Range: bytes=0-9')
is "$code:$(hdr Content-Range)" "206:bytes 0-9/$size" "Range 0-9: 206 and Content-Range"
check "Range 0-9: the first ten bytes" cmp "$T_DIR/b" "$(head -c 10 "$T_DIR/blob1" >"$T_DIR/exp"; echo "$T_DIR/exp")"
code=$(req GET "$blob" -H 'Range: bytes=-100')
is "$code:$(hdr Content-Range)" "206:bytes $((size - 100))-$((size - 1))/$size" "suffix Range -100: 206"
check "suffix Range: the last hundred bytes" cmp "$T_DIR/b" "$(tail -c 100 "$T_DIR/blob1" >"$T_DIR/exp"; echo "$T_DIR/exp")"
code=$(req GET "$blob" -H 'Range: bytes=299000-')
is "$code:$(hdr Content-Range):$(hdr Content-Length)" "206:bytes 299000-$((size - 1))/$size:1000" "open-ended Range: 206"
check "open-ended Range: the tail" cmp "$T_DIR/b" "$(tail -c 1000 "$T_DIR/blob1" >"$T_DIR/exp"; echo "$T_DIR/exp")"
code=$(req GET "$blob" -H "Range: bytes=$size-")
is "$code:$(hdr Content-Range)" "416:bytes */$size" "unsatisfiable Range: 416 and Content-Range bytes */size"
code=$(req GET "$blob" -H 'Range: bytes=0-9,20-29')
is "$code:$(hdr Content-Length)" "200:$size" "several ranges: the whole blob (200)"
out=$(python3 - "$port" "/v2/docker-local/other/blobs/$d1" <<'PY'
import re, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(60)
s.sendall(b"HEAD " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while not buf.endswith(b"{}"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
heads = buf.split(b"\r\n\r\n")
print(" ".join(re.findall(r"HTTP/1\.1 ([0-9]{3})", buf.decode())), len(heads), heads[1][:12].decode())
PY
)
is "$out" "404 200 3 HTTP/1.1 200" "HEAD of an unknown blob has no body; the connection goes on"
code=$(req GET "$base/v2/docker-local/other/blobs/$d1")
is "$code" 404 "a blob not linked in the repository is 404"
like "$(body)" '"code":"BLOB_UNKNOWN"' "... with BLOB_UNKNOWN"

# --- DELETE of a blob
is "$(req DELETE "$base/v2/docker-local/mounted/blobs/$d1")" 202 "DELETE of a blob answers 202"
is "$(req GET "$base/v2/docker-local/mounted/blobs/$d1")" 404 "a deleted blob is 404"
is "$(req GET "$blob")" 200 "other repositories keep it"
check "the file stays for the garbage collector" test -f "$data/blobs/sha256/$(echo "${d1#sha256:}" | cut -c1-2)/${d1#sha256:}"
code=$(req DELETE "$base/v2/docker-local/mounted/blobs/$d1")
is "$code" 404 "DELETE of a blob not linked answers 404"
like "$(body)" '"code":"BLOB_UNKNOWN"' "... with BLOB_UNKNOWN"

# --- push to an upstream key
code=$(req POST "$base/v2/hub/library/x/blobs/uploads/")
is "$code" 405 "push to an upstream key answers 405"
like "$(body)" '"code":"UNSUPPORTED"' "... with UNSUPPORTED"

# --- a manifest body over the limit
head -c 5000000 /dev/zero >"$T_DIR/five"
code=$(req PUT "$base/v2/docker-local/img/manifests/big" \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$T_DIR/five")
is "$code" 413 "a manifest over 4 MiB answers 413"
like "$(body)" '"code":"MANIFEST_INVALID"' "... with MANIFEST_INVALID"

# --- Location behind a trusted proxy
req POST "$base/v2/docker-local/proxied/blobs/uploads/" \
    -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: registry.example.com' >/dev/null
like "$(hdr Location)" "^https://registry\.example\.com/v2/docker-local/proxied/blobs/uploads/" "X-Forwarded-* from a trusted proxy make the Location"

# --- pipelined requests after a streamed body on one connection
loc=$(start_upload docker-local/pipe)
out=$(python3 - "$port" "${loc#$base}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(60)
path = sys.argv[2].encode()
s.sendall(b"PATCH " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"5\r\nhello\r\n3;x=y\r\n123\r\n0\r\n\r\n"
          b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while buf.count(b"HTTP/1.1 ") < 2 or not buf.endswith(b"{}"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(" ".join(l.split()[1].decode() for l in buf.split(b"\r\n") if l.startswith(b"HTTP/1.1 ")))
PY
)
is "$out" "202 200" "a chunked PATCH and a pipelined GET answer in order"
is "$(req GET "$loc"):$(hdr Range)" "204:0-7" "the pipelined chunked PATCH stored its 8 bytes"

# --- two writers on one session: the second is refused, nothing mixes
loc=$(start_upload docker-local/race)
python3 - "$port" "${loc#$base}" "$T_DIR/race.go" >"$T_DIR/race.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(60)
s.sendall(b"PATCH " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: x\r\n"
          b"Content-Range: 0-99999\r\nContent-Length: 100000\r\n\r\n" + b"a" * 50000)
# Hold the session half written until the other writer was answered.
for i in range(600):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.1)
s.sendall(b"a" * 50000)
print(s.recv(100).split(b"\r\n")[0].decode())
PY
slow=$!
# Wait until the first writer's request holds the session's lock.
inode=$(stat -c %i "$data/tmp/upload-${loc##*/}")
i=0
while ! grep -q "OFDLCK.*:$inode " /proc/locks && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
code=$(req PATCH "$loc" -H 'Content-Range: 0-999' --data-binary @"$T_DIR/c1")
touch "$T_DIR/race.go"
t_wait_gone "$slow" 600
is "$code" 416 "a second writer on a session being written gets 416"
is "$(cat "$T_DIR/race.out")" "HTTP/1.1 202 Accepted" "the first writer finishes"
is "$(req GET "$loc"):$(hdr Range)" "204:0-99999" "the session holds the first writer's bytes"
check "... and only them" sh -c "[ \"\$(tr -d a <'$data/tmp/upload-${loc##*/}' | wc -c)\" -eq 0 ]"

# --- strict framing: what could smuggle a request is refused
out=$(python3 - "$port" "${loc#$base}" <<'PY'
import re, socket, sys
port, path = int(sys.argv[1]), sys.argv[2].encode()
def exchange(data, trickle=False):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    if trickle:
        for i in range(len(data)):
            s.send(data[i:i + 1])
    else:
        s.sendall(data)
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
            if b"HTTP/1.1 2" in buf and buf.count(b"HTTP/1.1 ") >= 3:
                break
    except socket.timeout:
        pass
    s.close()
    return [m.decode() for m in re.findall(rb"HTTP/1\.1 ([0-9]{3}) ", buf)]
for name, hdrs in [("Transfer-Encoding with Content-Length", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
                   ("two Content-Lengths", b"Content-Length: 5\r\nContent-Length: 6\r\n"),
                   ("a Transfer-Encoding other than chunked", b"Transfer-Encoding: gzip, chunked\r\n"),
                   ("a client's X-Depot-Body", b"X-Depot-Body: 1\r\nContent-Length: 5\r\n")]:
    got = exchange(b"PATCH " + path + b" HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\nhelloGET /v2/ HTTP/1.1\r\n\r\n")
    print("%s %s: 400 and nothing after it" % ("ok" if got == ["400"] else "not ok %s" % got, name))
got = exchange(b"PATCH " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\nGET /v2/ HTTP/1.1\r\n\r\n")
print("%s broken chunked framing: 400 and nothing after it" % ("ok" if got == ["400"] else "not ok %s" % got))
got = exchange(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
               b"PATCH " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: y\r\n\r\n"
               b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", trickle=True)
print("%s requests sent a byte at a time are answered in order" % ("ok" if got == ["200", "202", "200"] else "not ok %s" % got))
PY
)
echo "$out" | grep -q . || not_ok "the framing checks ran"
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	*) not_ok "$line" ;;
	esac
done <<EOF2
$out
EOF2
is "$(req GET "$loc"):$(hdr Range)" "204:0-100004" "the trickled chunked body was stored"

# --- a streamed 200 MB chunked PATCH keeps the worker small
head -c 200000000 /dev/urandom >"$T_DIR/big"
dbig="sha256:$(sha "$T_DIR/big")"
loc=$(start_upload docker-local/big)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Transfer-Encoding: chunked' \
    -H 'Content-Type: application/octet-stream' -T "$T_DIR/big" "$loc")
is "$code" 202 "streamed 200 MB chunked PATCH answers 202"
hwm=$(max_hwm)
check "worker peak RSS under 64 MB (${hwm} kB)" test "$hwm" -gt 0 -a "$hwm" -lt 65536
is "$(req PUT "$loc?digest=$dbig")" 201 "the 200 MB blob commits"
got=$(curl -s "$base/v2/docker-local/big/blobs/$dbig" | sha256sum | cut -d' ' -f1)
is "sha256:$got" "$dbig" "the 200 MB blob reads back (sendfile)"
rm -f "$T_DIR/big"

# --- clients that leave in the middle of a body
loc=$(start_upload docker-local/gone)
workers_before=$(workers_of "$master")
python3 - "$port" "${loc#$base}" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PATCH " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: x\r\n"
          b"Content-Length: 10000000\r\n\r\n" + b"x" * 1000000)
time.sleep(0.3)
s.close()
PY
t_wait_grep "\"PATCH ${loc#$base}\" 400 " "$T_DIR/access-$port.log"
is "$(curl -s "$base/healthz")" ok "the worker serves after a client left mid-body"
is "$(workers_of "$master")" "$workers_before" "no worker died"
is "$(req GET "$loc"):$(hdr Range)" "204:0-0" "the abandoned chunk is not recorded"
is "$(wc -c <"$data/tmp/upload-${loc##*/}" | tr -d ' ')" 0 "the abandoned chunk's data is dropped"
like "$(cat "$T_DIR/access-$port.log")" "\"PATCH ${loc#$base}\" 400 " "the abandoned request is logged (and no longer in flight)"
python3 - "$port" "${loc#$base}?digest=$d1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PUT " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: x\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n100000\r\n" + b"y" * 100000)
time.sleep(0.3)
s.close()
PY
t_wait_grep "\"PUT ${loc#$base}" "$T_DIR/access-$port.log"
is "$(req GET "$base/v2/docker-local/gone/blobs/$d1")" 404 "a PUT whose client left commits nothing"
is "$(req GET "$loc"):$(hdr Range)" "204:0-0" "... and leaves the session as it was"

# --- a session survives its worker's death
loc=$(start_upload docker-local/survive)
req PATCH "$loc" -H 'Content-Range: 0-999' --data-binary @"$T_DIR/c1" >/dev/null
old=$(workers_of "$master")
kill -KILL $old
i=0
while [ $i -lt 600 ]; do
	now=$(workers_of "$master")
	set -- $now
	gone=1
	for w in $old; do echo " $now " | grep -q " $w " && gone=0; done
	[ $# -eq 2 ] && [ $gone -eq 1 ] && [ "$(curl -s "$base/healthz")" = ok ] && break
	sleep 0.1
	i=$((i + 1))
done
check "the killed workers are replaced" test $i -lt 600
is "$(req GET "$loc"):$(hdr Range)" "204:0-999" "the session is known to the new workers"
tail -c +1001 "$T_DIR/blob1" >"$T_DIR/rest"
is "$(req PUT "$loc?digest=$d1" --data-binary @"$T_DIR/rest")" 201 "the upload finishes after the kill"
curl -s -o "$T_DIR/got" "$base/v2/docker-local/survive/blobs/$d1"
check "the blob is whole" cmp "$T_DIR/got" "$T_DIR/blob1"

# --- four clients push the same blob at once
head -c 20000000 /dev/urandom >"$T_DIR/twenty"
d20="sha256:$(sha "$T_DIR/twenty")"
n=1
pushers=""
while [ $n -le 4 ]; do
	(
		l=$(curl -s -X POST -D - -o /dev/null "$base/v2/docker-local/same$n/blobs/uploads/" |
		    tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
		echo "${l##*/}" >"$T_DIR/same$n.id"
		curl -s -o /dev/null -X PATCH -H 'Transfer-Encoding: chunked' -T "$T_DIR/twenty" "$l"
		curl -s -o /dev/null -w '%{http_code}' -X PUT "$l?digest=$d20" >"$T_DIR/same$n.code"
	) &
	pushers="$pushers $!"
	n=$((n + 1))
done
for p in $pushers; do
	wait "$p"
done
is "$(cat "$T_DIR"/same1.code "$T_DIR"/same2.code "$T_DIR"/same3.code "$T_DIR"/same4.code)" \
    "201201201201" "four concurrent pushes of one blob all answer 201"
is "$(find "$data/blobs" -type f -name "${d20#sha256:}" | wc -l | tr -d ' ')" 1 "exactly one file holds the blob"
left=0
for n in 1 2 3 4; do
	[ -e "$data/tmp/upload-$(cat "$T_DIR/same$n.id")" ] && left=$((left + 1))
done
is "$left" 0 "no temp data left by the four pushes"
n=1
while [ $n -le 4 ]; do
	is "$(req HEAD "$base/v2/docker-local/same$n/blobs/$d20" -I)" 200 "push $n: the blob is linked"
	n=$((n + 1))
done

# --- stop: nothing may still count as in flight
stop_depotd "$master"
is "$?" 0 "SIGTERM stops depotd promptly (status 0)"

# --- server.max_body, untrusted proxies, public_url
port2=$(free_port)
base2="http://127.0.0.1:$port2"
write_conf "$T_DIR/limits.conf" "$port2" 'max_body = 1000000; trusted_proxies = [ "192.0.2.1" ];'
start_depotd "$T_DIR/limits.conf" "$port2" || bail "depotd did not start with max_body"
head -c 2000000 /dev/urandom >"$T_DIR/two"
loc=$(req POST "$base2/v2/docker-local/lim/blobs/uploads/" \
    -H 'X-Forwarded-Host: evil.example.com' >/dev/null; hdr Location)
like "$loc" "^http://127\.0\.0\.1:$port2/v2/" "X-Forwarded-* from an untrusted peer are ignored"
code=$(req PATCH "$loc" --data-binary @"$T_DIR/two")
is "$code" 413 "an upload body over max_body answers 413"
like "$(body)" '"code":"SIZE_INVALID"' "... with SIZE_INVALID"
code=$(req PATCH "$loc" -H 'Transfer-Encoding: chunked' -T "$T_DIR/two")
is "$code" 413 "a chunked upload body over max_body answers 413 while streaming"
is "$(req GET "$loc"):$(hdr Range)" "204:0-0" "nothing of it is recorded"
is "$(req PATCH "$loc" --data-binary @"$T_DIR/c2")" 202 "a body under max_body is accepted"
code=$(req PUT "$base2/v2/docker-local/lim/manifests/x" \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$T_DIR/two")
is "$code" 413 "a manifest over max_body answers 413"
stop_depotd "$DEPOTD_PID"

port3=$(free_port)
write_conf "$T_DIR/public.conf" "$port3" 'public_url = "https://pub.example.com/";'
start_depotd "$T_DIR/public.conf" "$port3" || bail "depotd did not start with public_url"
req POST "http://127.0.0.1:$port3/v2/docker-local/pub/blobs/uploads/" >/dev/null
like "$(hdr Location)" "^https://pub\.example\.com/v2/docker-local/pub/blobs/uploads/[0-9a-f]{32}\$" "public_url makes the Location"
stop_depotd "$DEPOTD_PID"

# --- the loop keeps answering while a large upload is committed
# One worker; the commit thread of a final PUT waits while the file named
# by DEPOT_TEST_COMMIT_HOLD exists, so the order is certain: /v2/ must be
# answered while the PUT is still in flight.
port4=$(free_port)
base4="http://127.0.0.1:$port4"
write_conf "$T_DIR/one.conf" "$port4"
sed -i 's/workers = 2;/workers = 1;/' "$T_DIR/one.conf"
touch "$T_DIR/hold"
DEPOT_TEST_COMMIT_HOLD="$T_DIR/hold"
export DEPOT_TEST_COMMIT_HOLD
start_depotd "$T_DIR/one.conf" "$port4" || bail "depotd did not start with one worker"
unset DEPOT_TEST_COMMIT_HOLD
one=$DEPOTD_PID
truncate -s 200M "$T_DIR/huge"
printf 'not all zeros' | dd of="$T_DIR/huge" bs=1 seek=100000000 conv=notrunc 2>/dev/null
dh="sha256:$(sha "$T_DIR/huge")"
loc=$(req POST "$base4/v2/docker-local/huge/blobs/uploads/" >/dev/null; hdr Location)
is "$(req PATCH "$loc" -T "$T_DIR/huge")" 202 "a 200 MB chunk is taken"
id=${loc##*/}
curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc?digest=$dh" >"$T_DIR/huge.code" &
putter=$!
i=0
until grep -q "upload $id: committing" "$T_DIR/depotd-$port4.log" 2>/dev/null; do
	[ $i -ge 300 ] && break
	sleep 0.1
	i=$((i + 1))
done
check "the final PUT hands its commit to a thread" test $i -lt 300
answered=0
for n in 1 2 3; do
	[ "$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$base4/v2/")" = 200 ] &&
	    answered=$((answered + 1))
done
is "$answered" 3 "/v2/ is answered on the same worker meanwhile"
check "... while the PUT is still in flight" kill -0 "$putter"
is "$(cat "$T_DIR/huge.code")" "" "... and has not been answered"
rm -f "$T_DIR/hold"
wait "$putter"
is "$(cat "$T_DIR/huge.code")" 201 "then the PUT completes (201)"
is "$(curl -s "$base4/v2/docker-local/huge/blobs/$dh" | sha256sum | cut -d' ' -f1)" "${dh#sha256:}" \
    "... and the blob has the uploaded content"
check "... its upload file is gone" test ! -e "$T_DIR/data-$port4/tmp/upload-$id"

# A DELETE of a session whose final PUT is being committed waits its
# turn like any writer (416), and the PUT completes.
head -c 3000 /dev/urandom >"$T_DIR/del"
ddel="sha256:$(sha "$T_DIR/del")"
head -c 1000 "$T_DIR/del" >"$T_DIR/del.1"
tail -c +1001 "$T_DIR/del" >"$T_DIR/del.2"
touch "$T_DIR/hold"
loc=$(req POST "$base4/v2/docker-local/del/blobs/uploads/" >/dev/null; hdr Location)
id=${loc##*/}
is "$(req PATCH "$loc" --data-binary @"$T_DIR/del.1")" 202 "a chunk of the session to cancel is taken"
curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$T_DIR/del.2" \
    "$loc?digest=$ddel" >"$T_DIR/del.code" &
putter=$!
i=0
until grep -q "upload $id: committing" "$T_DIR/depotd-$port4.log" 2>/dev/null; do
	[ $i -ge 300 ] && break
	sleep 0.1
	i=$((i + 1))
done
check "its final PUT is committing" test $i -lt 300
is "$(req DELETE "$loc")" 416 "a DELETE meanwhile is refused (416)"
like "$(body)" 'another request is writing to this upload' "... saying why"
is "$(req GET "$loc")" 204 "... and the session stays"
rm -f "$T_DIR/hold"
wait "$putter"
is "$(cat "$T_DIR/del.code")" 201 "the PUT completes (201)"
curl -s -o "$T_DIR/got" "$base4/v2/docker-local/del/blobs/$ddel"
check "... with the whole blob" cmp "$T_DIR/got" "$T_DIR/del"
is "$(req DELETE "$loc")" 404 "a DELETE after it finds no session (404)"
loc=$(req POST "$base4/v2/docker-local/del/blobs/uploads/" >/dev/null; hdr Location)
id=${loc##*/}
req PATCH "$loc" --data-binary @"$T_DIR/del.1" >/dev/null
is "$(req DELETE "$loc")" 204 "a DELETE of an idle session cancels it (204)"
check "... and removes its data" test ! -e "$T_DIR/data-$port4/tmp/upload-$id"
is "$(req GET "$loc")" 404 "... which is unknown from then on"

# correctness around the thread: wrong digests, monolithic, chunked,
# a restart between chunks (no running hash left), sha512
head -c 3000000 /dev/urandom >"$T_DIR/three"
d3="sha256:$(sha "$T_DIR/three")"
head -c 1000000 "$T_DIR/three" >"$T_DIR/three.1"
tail -c +1000001 "$T_DIR/three" | head -c 1000000 >"$T_DIR/three.2"
tail -c +2000001 "$T_DIR/three" >"$T_DIR/three.3"
loc=$(req POST "$base4/v2/docker-local/t/blobs/uploads/" >/dev/null; hdr Location)
req PATCH "$loc" --data-binary @"$T_DIR/three.1" >/dev/null
is "$(req PUT "$loc?digest=sha256:$(printf '%064d' 0)" --data-binary @"$T_DIR/three.2")" 400 \
    "a final PUT with the wrong digest is refused"
like "$(body)" '"code":"DIGEST_INVALID"' "... with DIGEST_INVALID"
is "$(req GET "$loc")" 404 "... and the session is over"
is "$(req HEAD "$base4/v2/docker-local/t/blobs/sha256:$(printf '%064d' 0)" -I)" 404 "... nothing stored"
is "$(req POST "$base4/v2/docker-local/t/blobs/uploads/?digest=$d3" --data-binary @"$T_DIR/three")" 201 \
    "a monolithic upload commits"
is "$(req POST "$base4/v2/docker-local/t/blobs/uploads/?digest=sha256:$(printf '%064d' 1)" \
    --data-binary @"$T_DIR/three")" 400 "a monolithic upload with the wrong digest is refused"
loc=$(req POST "$base4/v2/docker-local/c/blobs/uploads/" >/dev/null; hdr Location)
req PATCH "$loc" --data-binary @"$T_DIR/three.1" >/dev/null
req PATCH "$loc" --data-binary @"$T_DIR/three.2" >/dev/null
is "$(req PUT "$loc?digest=$d3" --data-binary @"$T_DIR/three.3")" 201 "a chunked upload commits"
curl -s -o "$T_DIR/got" "$base4/v2/docker-local/c/blobs/$d3"
check "... whole" cmp "$T_DIR/got" "$T_DIR/three"
loc=$(req POST "$base4/v2/docker-local/r/blobs/uploads/" >/dev/null; hdr Location)
req PATCH "$loc" --data-binary @"$T_DIR/three.1" >/dev/null
stop_depotd "$one"
start_depotd "$T_DIR/one.conf" "$port4" || bail "depotd did not restart"
one=$DEPOTD_PID
is "$(req PATCH "$loc" --data-binary @"$T_DIR/three.2")" 202 "a chunk after a restart is taken"
is "$(req PUT "$loc?digest=sha256:$(printf '%064d' 2)" --data-binary @"$T_DIR/three.3")" 400 \
    "a wrong digest is told also when the hash starts over"
loc=$(req POST "$base4/v2/docker-local/r/blobs/uploads/" >/dev/null; hdr Location)
req PATCH "$loc" --data-binary @"$T_DIR/three.1" >/dev/null
stop_depotd "$one"
start_depotd "$T_DIR/one.conf" "$port4" || bail "depotd did not restart"
one=$DEPOTD_PID
req PATCH "$loc" --data-binary @"$T_DIR/three.2" >/dev/null
is "$(req PUT "$loc?digest=$d3" --data-binary @"$T_DIR/three.3")" 201 \
    "an upload whose running hash was lost commits"
curl -s -o "$T_DIR/got" "$base4/v2/docker-local/r/blobs/$d3"
check "... whole" cmp "$T_DIR/got" "$T_DIR/three"
d512="sha512:$(sha512sum "$T_DIR/three" | cut -d' ' -f1)"
loc=$(req POST "$base4/v2/docker-local/s/blobs/uploads/" >/dev/null; hdr Location)
req PATCH "$loc" --data-binary @"$T_DIR/three.1" >/dev/null
is "$(req PUT "$loc?digest=$d512" --data-binary @"$T_DIR/three.2")" 400 \
    "a sha512 PUT over part of the data is refused"
loc=$(req POST "$base4/v2/docker-local/s/blobs/uploads/" >/dev/null; hdr Location)
req PATCH "$loc" --data-binary @"$T_DIR/three.1" >/dev/null
req PATCH "$loc" --data-binary @"$T_DIR/three.2" >/dev/null
is "$(req PUT "$loc?digest=$d512" --data-binary @"$T_DIR/three.3")" 201 "a sha512 chunked upload commits"
is "$(hdr Docker-Content-Digest)" "$d512" "... under its sha512 digest"
stop_depotd "$one"
rm -f "$T_DIR/huge"

# --- every worker ended cleanly (sanitizer builds report here)
check "no sanitizer report in the server logs" \
    sh -c "! grep -E 'ERROR: [A-Za-z]+Sanitizer|runtime error' '$T_DIR'/depotd-*.log"
check "no worker exited with an error" \
    sh -c "! grep -E 'worker [0-9]+ exited with status [1-9]' '$T_DIR'/depotd-*.log"
