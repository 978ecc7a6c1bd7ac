#!/bin/sh
# basic.sh: depotd starts in the foreground, answers /v2/ and /healthz,
# refuses bad paths with OCI errors, logs access, and stops on SIGTERM.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"

port=$(free_port)
write_conf "$T_DIR/depot.conf" "$port"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
base="http://127.0.0.1:$port"

out=$(curl -s -i "$base/v2/")
like "$out" "^HTTP/1.1 200" "GET /v2/ answers 200"
like "$out" "Docker-Distribution-API-Version: registry/2.0" "/v2/ names the API version"
is "$(http_status "$base/v2")" 200 "GET /v2 (no slash) answers 200"
is "$(http_status "$base/v2/" -I)" 200 "HEAD /v2/ answers 200"
is "$(curl -s "$base/healthz")" ok "/healthz answers ok"

out=$(curl -s -i "$base/nothing/here")
like "$out" "^HTTP/1.1 404" "unknown path is 404"
like "$out" '"errors":\[\{"code":"UNSUPPORTED"' "unknown path has the OCI error JSON"
like "$out" "Content-Type: application/json" "error JSON is application/json"

out=$(curl -s "$base/v2/nosuch/image/manifests/latest")
like "$out" '"code":"NAME_UNKNOWN"' "unknown registry is NAME_UNKNOWN"
is "$(http_status "$base/v2/nosuch/image/manifests/latest")" 404 "unknown registry is 404"

out=$(curl -s "$base/v2/docker-local/UPPER/manifests/latest")
like "$out" '"code":"NAME_INVALID"' "upper-case repository is NAME_INVALID"
is "$(http_status "$base/v2/docker-local/a/../b/manifests/latest" --path-as-is)" 400 "path traversal in a name is refused"
like "$(http_status "$base/v2/docker-local/a/blobs/sha256:..%2f..%2fx")" "^40[04]$" "an encoded traversal in a digest is refused"
out=$(curl -s "$base/v2/docker-local/a/blobs/sha256:zz")
like "$out" '"code":"DIGEST_INVALID"' "bad digest is DIGEST_INVALID"
is "$(http_status "$base/v2/docker-local/a%00b/tags/list")" 400 "a NUL in the path is refused"
is "$(http_status "$base/v2/" -X TRACE)" 501 "TRACE is not implemented (501)"
is "$(http_status "$base/v2/" -X POST)" 405 "POST /v2/ is not allowed"

# A line is written once its request is answered: wait for the last one.
t_wait_grep '"POST /v2/' "$T_DIR/access-$port.log"
like "$(cat "$T_DIR/access-$port.log")" '"GET /v2/ HTTP|"GET /v2/" 200' "access log has a line per request"
like "$(cat "$T_DIR/access-$port.log")" '127\.0\.0\.1 .*"GET /healthz.* 200 3 [0-9]+ms' "access log line has client, status, bytes, duration"

pid=$DEPOTD_PID
stop_depotd "$pid"
is "$?" 0 "SIGTERM stops depotd with status 0"
check "pid file removed on exit" test ! -e "$T_DIR/depotd-$port.pid"
check "no worker left running" sh -c "! pgrep -P $pid"
is "$(http_status "$base/v2/")" 000 "nothing listens after stop"

# --- a slow client cannot hold a worker: request_timeout drops it
port=$(free_port)
write_conf "$T_DIR/slow.conf" "$port" "request_timeout = 2;"
sed -i 's/workers = 2;/workers = 1;/' "$T_DIR/slow.conf"
start_depotd "$T_DIR/slow.conf" "$port" || bail "depotd did not start"
python3 - "$port" >"$T_DIR/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")   # never finishes the head
print("sent", flush=True)
s.settimeout(60)
start = time.time()
try:
    data = s.recv(100)
except socket.timeout:
    data = b"timeout"
print("closed after %.1f s: %r" % (time.time() - start, data[:20]))
PY
slow=$!
t_wait_grep '^sent' "$T_DIR/slow.out"
is "$(http_status "http://127.0.0.1:$port/v2/")" 200 "the only worker serves others while a slow client dawdles"
t_wait_gone "$slow" 700
like "$(cat "$T_DIR/slow.out")" "closed after ([1-9]|[1-5][0-9])\.[0-9] s: b''" "the slow client is dropped after request_timeout"
stop_depotd "$DEPOTD_PID"
