# tests/regress/lib.sh: shared helpers for depot's end-to-end tests.
# Each test script sources this file, prints TAP ("ok N - ...") and is run
# by automake's TAP driver. Every server a test starts is stopped by PID in
# the EXIT trap, also when the test fails.

set -u

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
	rm -rf "$T_DIR"
	exit 0
}

# bail REASON: stop the script; the rest cannot run.
bail() {
	echo "Bail out! $*"
	T_FAILED=$((T_FAILED + 1))
	exit 1
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

# free_port: print a TCP port that is free on 127.0.0.1 right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
# wait until /healthz answers; sets DEPOTD_PID. Log in $T_DIR/depotd-PORT.log.
start_depotd() {
	local conf=$1 port=$2 i=0
	"$DEPOTD" -f -c "$conf" >"$T_DIR/depotd-$port.log" 2>&1 &
	DEPOTD_PID=$!
	T_PIDS="$T_PIDS $DEPOTD_PID"
	while ! curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
		if ! kill -0 "$DEPOTD_PID" 2>/dev/null || [ "$i" -ge 100 ]; then
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# stop_depotd PID: SIGTERM and wait (bounded); returns the exit status.
stop_depotd() {
	local pid=$1 rc
	kill -TERM "$pid" 2>/dev/null
	t_wait_gone "$pid" 150 || { kill -KILL "$pid"; return 99; }
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
