#!/bin/sh
# metrics.sh: GET /metrics. The counters are shared by every worker: a
# scrape answered by either of two workers shows exactly the requests
# both served (one worker is stopped while the other serves, so each
# really serves its share). Also: the in-flight gauge, including the
# requests of a worker killed in the middle of one; worker restarts;
# the blob store gauges against the files on disk; expired uploads;
# counters kept over a reload; the Prometheus text format; no secrets.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"
command -v python3 >/dev/null || skip_all "python3 is not installed"

port=$(free_port)
base="http://127.0.0.1:$port"
data="$T_DIR/data-$port"
secret="metrics-s3cr3t-$$"
# upload_expiry = 2: the master's housekeeping (upload expiry, blob
# store gauges) runs every second.
write_conf "$T_DIR/depot.conf" "$port" 'upload_expiry = 2;
  trusted_proxies = [ "127.0.0.1" ];' "upstreams = (
  { key = \"hub\"; type = \"docker\"; source = \"custom\"; url = \"http://127.0.0.1:9\";
    auth = { type = \"userpass\"; username = \"metrics-user\"; password = \"$secret\"; }; }
);"
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID
set -- $(workers_of "$master")
[ "$#" -eq 2 ] || bail "depotd did not start 2 workers"
w1=$1
w2=$2

# scrape FILE: GET /metrics into FILE; prints status and content type.
scrape() {
	curl -s --max-time 10 -o "$1" -w '%{http_code} %{content_type}' \
	    "$base/metrics"
}
# val FILE SERIES: the value of the sample with exactly this name and
# these labels; "absent" when there is none.
val() {
	awk -v s="$2" 'index($0, s " ") == 1 { v = substr($0, length(s) + 2) }
	    END { print (v == "" ? "absent" : v) }' "$1"
}
req_series() {
	printf 'depot_http_requests_total{registry="%s",method="%s",code="%s"}' \
	    "$1" "$2" "$3"
}
# hit REGISTRY METHOD URL [curl args]: one request on a connection of its
# own; notes "registry method status bytes" in $T_DIR/expect ("-" is the
# empty registry label).
hit() {
	local reg=$1 m=$2 u=$3 how
	shift 3
	how="-X $m"
	[ "$m" = HEAD ] && how="-I"
	curl -s --max-time 20 $how -o /dev/null \
	    -w "$reg $m %{http_code} %{size_download}\n" "$@" "$u" \
	    >>"$T_DIR/expect"
}
# expect_scrape FILE: a scrape counts itself once it is answered.
expect_scrape() {
	echo "- GET 200 $(wc -c <"$1" | tr -d ' ')" >>"$T_DIR/expect"
}
# pause_worker PID / resume_worker PID: SIGSTOP (waiting until it took
# effect) and SIGCONT. A stopped worker accepts nothing: the other one
# serves every new connection.
pause_worker() {
	local i=0
	kill -STOP "$1"
	while [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != T ]; do
		[ "$i" -ge 600 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}
resume_worker() {
	kill -CONT "$1"
}
# wait_value SERIES WANT: scrape until SERIES has the value WANT (60 s).
wait_value() {
	local i=0
	while :; do
		scrape "$T_DIR/wait" >/dev/null
		[ "$(val "$T_DIR/wait" "$1")" = "$2" ] && return 0
		[ "$i" -ge 600 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# Exact deltas: every request series grew by what $T_DIR/expect says
# (and no other did), and each registry's bytes by the sum of its bodies.
cat >"$T_DIR/deltas.py" <<'EOF'
import sys

def parse(path):
    d = {}
    for line in open(path):
        if line.startswith('#') or not line.strip():
            continue
        k, v = line.rstrip('\n').rsplit(' ', 1)
        d[k] = float(v) if '.' in v else int(v)
    return d

old, new = parse(sys.argv[1]), parse(sys.argv[2])
want = {}
for line in open(sys.argv[3]):
    reg, method, code, size = line.split()
    reg = '' if reg == '-' else reg
    k = 'depot_http_requests_total{registry="%s",method="%s",code="%s"}' % (
        reg, method, code)
    want[k] = want.get(k, 0) + 1
    k = 'depot_http_response_bytes_total{registry="%s"}' % reg
    want[k] = want.get(k, 0) + int(size)
bad = 0
keys = set(k for k in list(old) + list(new) + list(want)
           if k.startswith(('depot_http_requests_total{',
                            'depot_http_response_bytes_total{')))
for k in sorted(keys):
    got = new.get(k, 0) - old.get(k, 0)
    if got != want.get(k, 0):
        print('%s grew by %d, want %d' % (k, got, want.get(k, 0)))
        bad = 1
sys.exit(bad)
EOF

# The Prometheus text format, line by line; every series of depot's.
cat >"$T_DIR/format.py" <<'EOF'
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
HELP = re.compile(r'^# HELP (%s) \S.*$' % NAME)
TYPE = re.compile(r'^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$'
                  % NAME)
SAMPLE = re.compile(r'^(%s)(\{%s(?:,%s)*\})? (-?[0-9]+(?:\.[0-9]+)?)$'
                    % (NAME, LABEL, LABEL))
REGISTRY = re.compile(r'(?:registry|upstream)="([^"]*)"')
HISTOGRAM = ('_bucket', '_sum', '_count')
text = open(sys.argv[1]).read()
allowed = set(sys.argv[2].split(','))
bad = []
if not text.endswith('\n'):
    bad.append('no newline at the end')
types, helps, samples = {}, set(), set()
current = None
for line in text.split('\n')[:-1]:
    m = HELP.match(line)
    if m:
        helps.add(m.group(1))
        continue
    m = TYPE.match(line)
    if m:
        if m.group(1) in types:
            bad.append('second TYPE for ' + m.group(1))
        types[m.group(1)] = m.group(2)
        current = m.group(1)
        continue
    m = SAMPLE.match(line)
    if not m:
        bad.append('not a Prometheus line: ' + repr(line))
        continue
    name = m.group(1)
    if types.get(current) == 'histogram' and name.startswith(current) and \
            name[len(current):] in HISTOGRAM:
        name = current
    if name != current:
        bad.append('sample outside its TYPE block: ' + line)
    key = m.group(1) + (m.group(2) or '')
    if key in samples:
        bad.append('duplicate sample: ' + key)
    samples.add(key)
    for reg in REGISTRY.findall(line):
        if reg not in allowed:
            bad.append('registry or upstream label not configured: ' +
                       line)
for name, kind in (('depot_build_info', 'gauge'),
                   ('depot_http_requests_total', 'counter'),
                   ('depot_http_response_bytes_total', 'counter'),
                   ('depot_http_requests_in_flight', 'gauge'),
                   ('depot_workers', 'gauge'),
                   ('depot_worker_restarts_total', 'counter'),
                   ('depot_blob_store_bytes', 'gauge'),
                   ('depot_blob_store_blobs', 'gauge'),
                   ('depot_upload_sessions_expired_total', 'counter')):
    if types.get(name) != kind:
        bad.append('%s: TYPE %s, want %s' % (name, types.get(name), kind))
    if name not in helps:
        bad.append(name + ': no HELP')
for name in types:
    if not name.endswith('_total') and types[name] == 'counter':
        bad.append(name + ': a counter without _total')
print('\n'.join(bad))
sys.exit(1 if bad else 0)
EOF

# --- the first scrape; the blob store gauges have a value from the start
like "$(scrape "$T_DIR/s0")" "^200 text/plain; version=0\.0\.4" \
    "GET /metrics answers 200 in the text format 0.0.4"
i=0
while [ "$(val "$T_DIR/s0" depot_blob_store_blobs)" = absent ] && [ "$i" -lt 600 ]; do
	sleep 0.1
	scrape "$T_DIR/s0" >/dev/null
	i=$((i + 1))
done
is "$(val "$T_DIR/s0" depot_blob_store_blobs) $(val "$T_DIR/s0" depot_blob_store_bytes)" \
    "0 0" "the blob store gauges are there at start (empty store)"
is "$(val "$T_DIR/s0" depot_workers)" 2 "depot_workers counts the 2 workers"
version=$("$DEPOTD" -V | sed 's/^depotd //')
is "$(val "$T_DIR/s0" "depot_build_info{version=\"$version\"}")" 1 \
    "depot_build_info carries the version ($version)"
: >"$T_DIR/expect"
expect_scrape "$T_DIR/s0"

head -c 123457 /dev/urandom >"$T_DIR/blob"
size=123457
digest="sha256:$(sha256sum "$T_DIR/blob" | cut -d ' ' -f 1)"
missing="sha256:$(printf '%064d' 0)"

# --- the first worker serves a push, pulls, a 404 and GETs of /v2/
pause_worker "$w2" || bail "cannot stop worker $w2"
hit - GET "$base/v2/"
hit - GET "$base/v2/"
hit - GET "$base/v2/"
hit docker-local POST "$base/v2/docker-local/m/blobs/uploads/?digest=$digest" \
    -H "Content-Type: application/octet-stream" --data-binary "@$T_DIR/blob"
hit docker-local GET "$base/v2/docker-local/m/blobs/$digest"
hit docker-local GET "$base/v2/docker-local/m/blobs/$digest"
hit docker-local GET "$base/v2/docker-local/m/blobs/$missing"
resume_worker "$w2"
like "$(grep ' POST ' "$T_DIR/expect")" "^docker-local POST 201 " \
    "the blob is pushed (monolithic POST ?digest=)"
like "$(grep ' GET 200 ' "$T_DIR/expect" | grep -c "^docker-local GET 200 $size\$")" \
    '^2$' "the blob is pulled twice with its $size bytes"

# --- the second worker serves more, then answers a scrape
pause_worker "$w1" || bail "cannot stop worker $w1"
hit - GET "$base/v2/"
hit - GET "$base/v2/"
hit docker-local GET "$base/v2/docker-local/m/blobs/$digest"
hit docker-local HEAD "$base/v2/docker-local/m/blobs/$digest"
hit - GET "$base/no/such/endpoint"
hit - GET "$base/v2/not-configured/x/tags/list"
hit hub GET "$base/v2/hub/x/tags/list"
is "$(scrape "$T_DIR/s1" | cut -d ' ' -f 1)" 200 "the second worker answers a scrape"
resume_worker "$w1"
check "a scrape answered by the second worker counts both workers' requests exactly" \
    python3 "$T_DIR/deltas.py" "$T_DIR/s0" "$T_DIR/s1" "$T_DIR/expect"
is "$(val "$T_DIR/s1" depot_http_requests_in_flight)" 1 \
    "in flight: only the scrape itself"
expect_scrape "$T_DIR/s1"

# --- and the first worker sees the same sums
pause_worker "$w2" || bail "cannot stop worker $w2"
is "$(scrape "$T_DIR/s2" | cut -d ' ' -f 1)" 200 "the first worker answers a scrape"
resume_worker "$w2"
check "a scrape answered by the first worker shows the same exact sums" \
    python3 "$T_DIR/deltas.py" "$T_DIR/s0" "$T_DIR/s2" "$T_DIR/expect"
is "$(val "$T_DIR/s2" depot_http_requests_in_flight)" 1 \
    "in flight, seen from the other worker: only the scrape itself"
check "/metrics parses as Prometheus text; its labels are configured names" \
    python3 "$T_DIR/format.py" "$T_DIR/s2" ",docker-local,hub"
check "/metrics shows no secret and no user name" \
    sh -c "! grep -e '$secret' -e metrics-user '$T_DIR/s2'"
{ cat "$T_DIR/s2"; cat <<'EOF'
# HELP depot_t_seconds A histogram as the upstream series render it.
# TYPE depot_t_seconds histogram
depot_t_seconds_bucket{upstream="hub",le="0.5"} 1
depot_t_seconds_bucket{upstream="hub",le="+Inf"} 2
depot_t_seconds_sum{upstream="hub"} 3.250000
depot_t_seconds_count{upstream="hub"} 2
EOF
} >"$T_DIR/histogram"
check "the format check accepts a histogram with upstream labels" \
    python3 "$T_DIR/format.py" "$T_DIR/histogram" ",docker-local,hub"
check "the format check rejects a malformed line" \
    sh -c "{ cat '$T_DIR/s2'; echo 'depot_workers{x=\"1} 2'; } >'$T_DIR/broken' &&
    ! python3 '$T_DIR/format.py' '$T_DIR/broken' ',docker-local,hub'"

# --- the blob store gauges follow the disk (housekeeping every second)
disk_blobs=$(find "$data/blobs" -type f | wc -l | tr -d ' ')
disk_bytes=$(find "$data/blobs" -type f -exec cat {} + | wc -c | tr -d ' ')
is "$disk_blobs $disk_bytes" "1 $size" "one blob of $size bytes is on disk"
if wait_value depot_blob_store_bytes "$disk_bytes" &&
    wait_value depot_blob_store_blobs "$disk_blobs"; then
	ok "the blob store gauges match the disk after housekeeping"
else
	not_ok "the blob store gauges match the disk after housekeeping"
	grep '^depot_blob_store' "$T_DIR/wait" | sed 's/^/#   /'
fi

# --- a worker killed in the middle of a request: restarted, counted,
# and its request no longer in flight
restarts=$(val "$T_DIR/s2" depot_worker_restarts_total)
expired=$(val "$T_DIR/s2" depot_upload_sessions_expired_total)
loc=$(curl -s --max-time 10 -X POST -D - -o /dev/null \
    "$base/v2/docker-local/slow/blobs/uploads/" | tr -d '\r' |
    sed -n 's/^[Ll]ocation: //p')
like "$loc" "/v2/docker-local/slow/blobs/uploads/" "an upload session is started"
pause_worker "$w2" || bail "cannot stop worker $w2"
mkfifo "$T_DIR/fifo"
curl -s --max-time 30 -o /dev/null -X PATCH \
    -H "Content-Type: application/octet-stream" -T - "$loc" <"$T_DIR/fifo" &
slow=$!
T_PIDS="$T_PIDS $slow"
exec 3>"$T_DIR/fifo"
printf 'the first bytes of a body that never ends' >&3
if wait_value depot_http_requests_in_flight 2; then
	ok "a streaming PATCH is in flight (besides the scrape)"
else
	not_ok "a streaming PATCH is in flight (besides the scrape)"
fi
kill -KILL "$w1"
resume_worker "$w2"
i=0
while :; do
	set -- $(workers_of "$master")
	[ "$#" -eq 2 ] && [ "$1" != "$w1" ] && [ "$2" != "$w1" ] && break
	[ "$i" -ge 600 ] && break
	sleep 0.1
	i=$((i + 1))
done
is "$#" 2 "the killed worker is replaced"
scrape "$T_DIR/s3" >/dev/null
is "$(val "$T_DIR/s3" depot_worker_restarts_total)" "$((restarts + 1))" \
    "depot_worker_restarts_total grows by 1"
is "$(val "$T_DIR/s3" depot_http_requests_in_flight)" 1 \
    "the killed worker's request is no longer in flight"
is "$(val "$T_DIR/s3" depot_workers)" 2 "depot_workers is 2 again"
exec 3>&-
wait "$slow" 2>/dev/null

# --- the abandoned session expires (upload_expiry = 2)
if wait_value depot_upload_sessions_expired_total "$((expired + 1))"; then
	ok "the abandoned upload session is counted as expired"
else
	not_ok "the abandoned upload session is counted as expired"
	grep '^depot_upload' "$T_DIR/wait" | sed 's/^/#   /'
fi

# --- a reload keeps the counters (the segment outlives generations)
scrape "$T_DIR/s4" >/dev/null
before=$(val "$T_DIR/s4" "$(req_series docker-local GET 200)")
kill -HUP "$master"
i=0
old="$*"
while :; do
	set -- $(workers_of "$master")
	[ "$#" -eq 2 ] && [ "$*" != "$old" ] && case " $old " in
	    *" $1 "* | *" $2 "*) false ;; *) true ;; esac && break
	[ "$i" -ge 600 ] && break
	sleep 0.1
	i=$((i + 1))
done
scrape "$T_DIR/s5" >/dev/null
is "$(val "$T_DIR/s5" "$(req_series docker-local GET 200)") $(val "$T_DIR/s5" depot_worker_restarts_total)" \
    "$before $((restarts + 1))" "the counters survive a reload"
is "$(val "$T_DIR/s5" depot_workers)" 2 "depot_workers counts the new generation"
is "$(http_status "$base/metrics" -X POST)" 405 "POST /metrics answers 405"

stop_depotd "$master"
is "$?" 0 "depotd stops cleanly"
