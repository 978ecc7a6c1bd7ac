# tests/regress/lib.sh: shared helpers for depot's end-to-end tests.
# Each test script sources this file, prints TAP ("ok N - ...") and is run
# by automake's TAP driver. Every server a test starts is stopped by PID in
# the EXIT trap, also when the test fails.

set -u

# T_WAIT: seconds the wait helpers allow by default. Generous on purpose:
# a busy machine (a parallel build, a sanitizer build, a second copy of
# the suite) must not fail a test, and a passing test never waits that long.
: "${T_WAIT:=60}"
# T_PORTS: a directory shared by all depot tests on this machine where
# free_port reserves the ports it hands out (see free_port).
: "${T_PORTS:=${TMPDIR:-/tmp}/depot-test-ports}"

# DEPOT_TEST_ROUNDS: when set to a positive number, the stress scripts
# that repeat a round of load (crash.sh, ...) run at most that many
# rounds (see t_rounds). Unset, each runs its full count. scripts/test
# sets 1 for its sanitizer pass: one round shows the sanitizers no error,
# the plain pass has run them all.
: "${DEPOT_TEST_ROUNDS:=}"

T_COUNT=0
T_FAILED=0
T_PIDS=""
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/depot-test.XXXXXX")
: "${DEPOTD:=$(pwd)/src/depotd}"
: "${DEPOT_SRCDIR:=$(pwd)}"

t_cleanup() {
	local pid
	for pid in $T_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $T_PIDS; do
		t_wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null
	done
	t_release_ports
	if [ "$T_FAILED" -ne 0 ] && [ -d "$T_DIR" ]; then
		for f in "$T_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "# --- $f (last 40 lines)"
			tail -n 40 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$T_DIR"
	echo "1..$T_COUNT"
}
trap t_cleanup EXIT

# ok DESCRIPTION: record a pass.
ok() {
	T_COUNT=$((T_COUNT + 1))
	echo "ok $T_COUNT - $*"
}

# not_ok DESCRIPTION: record a failure.
not_ok() {
	T_COUNT=$((T_COUNT + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_COUNT - $*"
}

# check DESCRIPTION COMMAND...: pass when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@" >"$T_DIR/check.out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		sed 's/^/#   /' "$T_DIR/check.out" | head -n 20
	fi
}

# is GOT WANT DESCRIPTION: pass when the two strings are equal.
is() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

# like TEXT PATTERN DESCRIPTION: pass when TEXT matches the grep -E PATTERN.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok "$3"
	else
		not_ok "$3"
		printf '%s\n' "$1" | head -n 10 | sed 's/^/#   got: /'
		echo "#   want match: $2"
	fi
}

# skip REASON: one check that cannot run here, saying why.
skip() {
	T_COUNT=$((T_COUNT + 1))
	echo "ok $T_COUNT # SKIP $*"
}

# skip_all REASON: the whole script is skipped, saying why.
skip_all() {
	echo "1..0 # SKIP $*"
	T_COUNT=0
	trap - EXIT
	t_release_ports
	rm -rf "$T_DIR"
	exit 0
}

# bail REASON: stop the script; the rest cannot run.
bail() {
	echo "Bail out! $*"
	T_FAILED=$((T_FAILED + 1))
	exit 1
}

# t_rounds N: the number of rounds a stress script runs: N, or fewer when
# DEPOT_TEST_ROUNDS says so.
t_rounds() {
	case $DEPOT_TEST_ROUNDS in
	''|*[!0-9]*|0) echo "$1" ;;
	*) [ "$DEPOT_TEST_ROUNDS" -lt "$1" ] && echo "$DEPOT_TEST_ROUNDS" || echo "$1" ;;
	esac
}

# t_wait_gone PID TENTHS: wait up to TENTHS/10 s for a process to exit.
t_wait_gone() {
	local i=0
	while kill -0 "$1" 2>/dev/null; do
		[ "$i" -ge "$2" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# t_wait_for [-t SECONDS] COMMAND...: wait until COMMAND succeeds (its
# output is discarded), polling every 0.1 s, for at most SECONDS of wall
# time (default $T_WAIT); returns 1 when it never did.
t_wait_for() {
	local limit=$T_WAIT end
	if [ "$1" = -t ]; then
		limit=$2
		shift 2
	fi
	end=$(($(date +%s) + limit))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
	return 0
}

# t_wait_grep [-t SECONDS] PATTERN FILE: wait until FILE has a line matching
# the grep -E PATTERN (a log line a server writes a little after the event).
t_wait_grep() {
	if [ "$1" = -t ]; then
		t_wait_for -t "$2" grep -Eq -- "$3" "$4"
	else
		t_wait_for grep -Eq -- "$1" "$2"
	fi
}

# t_wait_alive [-t SECONDS] PID COMMAND...: like t_wait_for, but gives up
# as soon as PID has exited (a server that failed to start is not waited
# for in vain).
t_wait_alive() {
	local limit=$T_WAIT end pid
	if [ "$1" = -t ]; then
		limit=$2
		shift 2
	fi
	pid=$1
	shift
	end=$(($(date +%s) + limit))
	while ! "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
	return 0
}

# t_status_is URL WANT [curl args]: true when URL answers with status WANT.
t_status_is() {
	local url=$1 want=$2
	shift 2
	[ "$(http_status "$url" --max-time 10 "$@")" = "$want" ]
}

# t_wait_status [-t SECONDS] URL WANT PID: wait until URL answers with the
# status WANT while PID lives; 1 when it did not in time or PID died.
t_wait_status() {
	if [ "$1" = -t ]; then
		t_wait_alive -t "$2" "$5" t_status_is "$3" "$4"
	else
		t_wait_alive "$3" t_status_is "$1" "$2"
	fi
}

# free_port: print a TCP port that is free on 127.0.0.1 and stays free for
# this test. A port that was merely free a moment ago (bind to port 0,
# close) can be taken before the server binds it, by any outgoing
# connection on the machine or by another test doing the same. So the
# port is chosen below the kernel's ephemeral range (which connections and
# binds to port 0 draw from), checked free by binding it, and reserved in
# $T_PORTS for this test until it exits (reservations of tests that are
# gone are reused). The same port is never handed out twice to one test.
free_port() {
	python3 - "$T_PORTS" "$T_DIR" <<'PY'
import errno, fcntl, os, random, socket, sys

ports_dir, owner = sys.argv[1], sys.argv[2]
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = (int(x) for x in f.read().split())
except (OSError, ValueError):
    low, high = 32768, 60999
cands = [p for p in range(10000, 65535) if p < low or p > high]
if len(cands) < 2000:
    cands = [p for p in range(1024, 65535) if p < low or p > high]

def free(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            s.bind((addr, port))
        except OSError as e:
            if fam == socket.AF_INET or e.errno == errno.EADDRINUSE:
                return False
        finally:
            s.close()
    return True

lock = None
try:
    os.makedirs(ports_dir, exist_ok=True)
    lock = open(os.path.join(ports_dir, "lock"), "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
except OSError:
    lock = None        # no shared directory: choose without reserving

def reserved(port):
    try:
        with open(os.path.join(ports_dir, str(port))) as f:
            holder = f.read().strip()
    except OSError:
        return False
    return os.path.isdir(holder)

for _ in range(2000):
    port = random.choice(cands)
    if lock is not None and reserved(port):
        continue
    if not free(port):
        continue
    if lock is not None:
        with open(os.path.join(ports_dir, str(port)), "w") as f:
            f.write(owner + "\n")
        with open(os.path.join(owner, "ports"), "a") as f:
            f.write("%d\n" % port)
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port found")
PY
}

# t_release_ports: drop the reservations free_port made for this test.
t_release_ports() {
	local p
	[ -f "$T_DIR/ports" ] || return 0
	while read -r p; do
		[ "$(cat "$T_PORTS/$p" 2>/dev/null)" = "$T_DIR" ] &&
		    rm -f "$T_PORTS/$p"
	done <"$T_DIR/ports"
	return 0
}

# write_conf FILE PORT [EXTRA_SERVER_LINES] [REST]: a minimal config with
# its data dir and pid file under the test directory.
write_conf() {
	local file=$1 port=$2 extra=${3:-} rest=${4:-}
	cat >"$file" <<EOC
server = {
  listen = [ "127.0.0.1:$port" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$port.pid";
  data_dir = "$T_DIR/data-$port";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$port.log"; };
  $extra
};
registries = (
  { name = "docker-local"; type = "docker"; }
);
$rest
EOC
}

# start_depotd CONF PORT: run depotd in the foreground (background job),
# wait (up to $T_WAIT s) until /healthz answers; sets DEPOTD_PID. Log in
# $T_DIR/depotd-PORT.log; when depotd does not come up, its last lines are
# printed as TAP comments.
start_depotd() {
	local conf=$1 port=$2
	"$DEPOTD" -f -c "$conf" >"$T_DIR/depotd-$port.log" 2>&1 &
	DEPOTD_PID=$!
	T_PIDS="$T_PIDS $DEPOTD_PID"
	if ! t_wait_alive "$DEPOTD_PID" curl -fs --max-time 10 -o /dev/null \
	    "http://127.0.0.1:$port/healthz"; then
		echo "# depotd on port $port did not start:"
		tail -n 5 "$T_DIR/depotd-$port.log" | sed 's/^/#   /'
		return 1
	fi
	return 0
}

# stop_depotd PID: SIGTERM and wait (bounded); returns the exit status.
stop_depotd() {
	local pid=$1 rc
	kill -TERM "$pid" 2>/dev/null
	t_wait_gone "$pid" $((T_WAIT * 10)) || { kill -KILL "$pid"; return 99; }
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

# workers_of PID: the worker pids of a master.
workers_of() {
	pgrep -P "$1" | sort | tr '\n' ' '
}

# http_status URL [curl args]: print the HTTP status code only.
http_status() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' "$@" "$url"
}
