#!/bin/sh
# http_conn.sh: the connection layer: a file-backed reply is as quick as
# one built in memory on a keep-alive connection (no Nagle stall), a slow
# download outlives request_timeout while a stalled one is dropped and
# logged with the bytes it got, NUL bytes in a head are refused, and a
# worker out of file descriptors or at max_connections pauses accepting
# instead of spinning.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"
command -v python3 >/dev/null || skip_all "python3 is not installed"

MT_OCI=application/vnd.oci.image.manifest.v1+json
TIMEOUT=2

# conf FILE PORT EXTRA: one worker, a short request_timeout.
conf() {
	cat >"$1" <<EOC
server = {
  listen = [ "127.0.0.1:$2" ];
  workers = 1;
  pidfile = "$T_DIR/depotd-$2.pid";
  data_dir = "$T_DIR/data-$2";
  request_timeout = $TIMEOUT;
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$2.log"; };
  $3
};
registries = ( { name = "docker-local"; type = "docker"; } );
EOC
}

digest_of() {
	echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

push_blob() {
	curl -s -o /dev/null -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/octet-stream' --data-binary @"$1" \
	    "$base/v2/docker-local/app/blobs/uploads/?digest=$(digest_of "$1")"
}

# log_lines PORT PATTERN: how many access log lines match.
log_lines() {
	grep -c -- "$2" "$T_DIR/access-$1.log" 2>/dev/null || true
}

# start_limited CONF PORT NOFILE: depotd under ulimit -n NOFILE.
start_limited() {
	local i=0
	(ulimit -n "$3" && exec "$DEPOTD" -f -c "$1") \
	    >"$T_DIR/depotd-$2.log" 2>&1 &
	DEPOTD_PID=$!
	T_PIDS="$T_PIDS $DEPOTD_PID"
	while ! curl -fsS -o /dev/null "http://127.0.0.1:$2/healthz" 2>/dev/null; do
		if ! kill -0 "$DEPOTD_PID" 2>/dev/null || [ "$i" -ge 100 ]; then
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# cpu_ticks PID: user + system time of a process, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

port=$(free_port)
base="http://127.0.0.1:$port"
conf "$T_DIR/depot.conf" "$port" ""
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"

# A small image: config blob, manifest (file-backed replies), big blob.
printf '{"architecture":"amd64","os":"linux"}' >"$T_DIR/config.json"
head -c 9000000 /dev/urandom >"$T_DIR/big"
cat >"$T_DIR/manifest.json" <<EOM
{"schemaVersion":2,"mediaType":"$MT_OCI","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$(digest_of "$T_DIR/config.json")","size":$(stat -c %s "$T_DIR/config.json")},"layers":[]}
EOM
is "$(push_blob "$T_DIR/config.json")" 201 "config blob pushed"
is "$(push_blob "$T_DIR/big")" 201 "9 MB blob pushed"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $MT_OCI" \
    --data-binary @"$T_DIR/manifest.json" "$base/v2/docker-local/app/manifests/v1")" \
    201 "manifest pushed"
big_path=/v2/docker-local/app/blobs/$(digest_of "$T_DIR/big")

# A: 50 file-backed and 50 in-memory replies, interleaved on one
# keep-alive connection. A Nagle stall costs 40 ms per file-backed reply.
out=$(python3 - "$port" <<'EOPY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = b""
def get(path):
    global buf
    t = time.monotonic()
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode())
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
         if l.lower().startswith(b"content-length:")][0]
    while len(buf) < n:
        buf += s.recv(65536)
    buf = buf[n:]
    assert head.startswith(b"HTTP/1.1 200"), head
    return time.monotonic() - t
mem = fil = 0.0
for i in range(50):
    mem += get("/v2/")
    fil += get("/v2/docker-local/app/manifests/v1")
print("%.4f %.4f" % (fil, mem))
EOPY
)
fil=${out% *}
mem=${out#* }
echo "# 50 manifest GETs: ${fil}s, 50 GETs of /v2/: ${mem}s"
check "file-backed replies are not stalled on a keep-alive connection" \
    python3 -c "import sys; sys.exit(not $fil <= 10 * $mem + 0.5)"

# 6: a client reading the first 4.5 MB of 9 MB at 300 KB/s, for about 7 x
# request_timeout, then the rest at full speed, gets it all, and the access
# log says so once it is sent. The send buffer grows to MBs and takes
# bytes in bursts seconds apart: the client's progress is seen in the
# socket's queue meanwhile.
out=$(python3 - "$port" "$big_path" <<'EOPY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % sys.argv[2]).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, body = buf.split(b"\r\n\r\n", 1)
got, start = len(body), time.monotonic()
while True:
    d = s.recv(16384)
    if not d:
        break
    got += len(d)
    if got >= 9000000:
        break
    # at most 300 KB/s up to 4.5 MB
    ahead = min(got, 4500000) / 300000.0 - (time.monotonic() - start)
    if ahead > 0 and got < 4500000:
        time.sleep(ahead)
print(got)
EOPY
)
is "$out" 9000000 "a slow reader gets the whole blob past request_timeout"
i=0
while [ "$(log_lines "$port" "GET $big_path\" 200 9000000 ")" -lt 1 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
is "$(log_lines "$port" "GET $big_path\" 200 9000000 ")" 1 "access log: the whole body sent"

# 6: a client that stops reading after 1 MB is dropped after
# request_timeout, and logged with the body bytes it was sent (which it
# then still reads from its socket buffer, up to the close).
out=$(python3 - "$port" "$big_path" "$T_DIR/access-$port.log" <<'EOPY'
import socket, sys, time
port, path, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def logged():
    return [l for l in open(log) if ('"GET %s"' % path) in l]
n0 = len(logged())
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, body = buf.split(b"\r\n\r\n", 1)
got = len(body)
while got < 1000000:
    got += len(s.recv(65536))
deadline = time.monotonic() + 60
while len(logged()) == n0 and time.monotonic() < deadline:
    time.sleep(0.1)
s.settimeout(30)
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
except (ConnectionResetError, socket.timeout):
    pass
line = logged()[-1].split('"')[2].split()
print(got, line[0], line[1])
EOPY
)
got=${out%% *}
logged=${out##* }
echo "# stalled reader: received $got, access log: $out"
like "$out" "^[0-9]+ 200 [0-9]+$" "a stalled reader is logged"
check "a stalled reader is dropped before the end of the blob" \
    test "$logged" -lt 9000000
is "$logged" "$got" "the access log counts the body bytes sent"

# 15: a NUL byte in a header value is refused with 400.
out=$(python3 - "$port" <<'EOPY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: t\r\nX-Note: a\x00b\r\n\r\n")
s.settimeout(30)
print(s.recv(4096).split(b"\r\n")[0].decode())
EOPY
)
like "$out" "^HTTP/1.1 400 " "NUL in a header value: 400"
stop_depotd "$DEPOTD_PID"

# 11: out of file descriptors. max_connections is set high, so that
# accept() fails: the worker must pause instead of spinning.
port=$(free_port)
conf "$T_DIR/emfile.conf" "$port" "max_connections = 1000;"
start_limited "$T_DIR/emfile.conf" "$port" 64 || bail "depotd did not start under ulimit -n 64"
worker=$(workers_of "$DEPOTD_PID" | cut -d' ' -f1)
python3 - "$port" "$T_DIR/release" >"$T_DIR/idle.out" 2>&1 <<'EOPY' &
import os, socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1])))
         for _ in range(100)]
print("open", flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
for s in socks:
    s.close()
EOPY
idle=$!
i=0
until grep -q "Too many open files" "$T_DIR/depotd-$port.log" || [ $i -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
like "$(cat "$T_DIR/depotd-$port.log")" "accept: Too many open files" \
    "out of descriptors: logged"
# Watch the worker's CPU time for 3 s: a spinning worker burns all of it.
t0=$(cpu_ticks "$worker")
sleep 3
t1=$(cpu_ticks "$worker")
echo "# worker CPU over 3 s with 100 idle connections: $((t1 - t0)) ticks"
check "out of descriptors: the worker does not spin" test $((t1 - t0)) -lt 50
n=$(grep -c "Too many open files" "$T_DIR/depotd-$port.log")
check "out of descriptors: a few log lines, not a flood ($n)" test "$n" -le 3
touch "$T_DIR/release"
wait "$idle"
i=0
until [ "$(http_status "http://127.0.0.1:$port/v2/" -m 5)" = 200 ] || [ $i -ge 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
is "$(http_status "http://127.0.0.1:$port/v2/" -m 5)" 200 \
    "after the idle connections closed, requests are served"
stop_depotd "$DEPOTD_PID"

# 11: max_connections: a worker holding 4 does not accept a fifth until
# one of them closes.
port=$(free_port)
conf "$T_DIR/max.conf" "$port" "max_connections = 4;"
start_depotd "$T_DIR/max.conf" "$port" || bail "depotd did not start"
out=$(python3 - "$port" <<'EOPY'
import select, socket, sys
port = int(sys.argv[1])
def ask(s):
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: t\r\n\r\n")
def answered(s, wait):
    return bool(select.select([s], [], [], wait)[0]) and \
        s.recv(4096).startswith(b"HTTP/1.1 200")
held = []
for i in range(4):
    s = socket.create_connection(("127.0.0.1", port))
    ask(s)
    if not answered(s, 30):
        print("held connection %d not served" % i)
        sys.exit()
    held.append(s)
fifth = socket.create_connection(("127.0.0.1", port))
ask(fifth)
early = answered(fifth, 1)
held[0].close()
print("early" if early else "waited", "served" if answered(fifth, 30) else "stuck")
EOPY
)
is "$out" "waited served" "max_connections: the fifth waits until one closes"
like "$(cat "$T_DIR/depotd-$port.log")" "connections open \(max_connections\)" \
    "max_connections: logged"
stop_depotd "$DEPOTD_PID"

check "no sanitizer report in the server logs" \
    sh -c "! grep -E 'ERROR: [A-Za-z]+Sanitizer|runtime error' '$T_DIR'/depotd-*.log"
check "no worker exited with an error" \
    sh -c "! grep -E 'worker [0-9]+ exited with status [1-9]' '$T_DIR'/depotd-*.log"
