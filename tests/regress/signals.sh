#!/bin/sh
# signals.sh: the master's process control: pid file refusal, SIGHUP reload
# with a changed and with a broken config, SIGKILLed workers replaced while
# requests keep succeeding, SIGUSR1 log reopening, graceful SIGTERM, daemon
# mode, IPv6 listening, and privilege drop when started as root.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

port=$(free_port)
base="http://127.0.0.1:$port"
conf="$T_DIR/depot.conf"
write_conf "$conf" "$port"
start_depotd "$conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID
log="$T_DIR/depotd-$port.log"

# --- pid file refusal
port2=$(free_port)
sed "s/127.0.0.1:$port/127.0.0.1:$port2/" "$conf" >"$T_DIR/second.conf"
out=$(timeout 60 "$DEPOTD" -f -c "$T_DIR/second.conf" 2>&1)
is "$?" 1 "a second depotd with the same pid file refuses to start"
like "$out" "another depotd is running \(pid $master" "the refusal names the running pid"

# --- reload with a changed config
# err_code URL: the OCI error code of an answer ("" when none).
err_code() {
	curl -s "$1" | jq -r '.errors[0].code // empty' 2>/dev/null
}
is "$(err_code "$base/v2/extra/img/manifests/latest")" NAME_UNKNOWN "registry 'extra' unknown before reload"
old_workers=$(workers_of "$master")
cat >>"$conf" <<'EOC'
upstreams = (
  { key = "extra"; type = "docker"; source = "custom"; url = "http://127.0.0.1:9"; auth = { type = "anonymous"; }; }
);
EOC
kill -HUP "$master"
i=0
while [ "$(err_code "$base/v2/extra/img/manifests/latest")" = NAME_UNKNOWN ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "after SIGHUP the new config is served" test "$(err_code "$base/v2/extra/img/manifests/latest")" != NAME_UNKNOWN
like "$(cat "$log")" "configuration reloaded" "reload is logged"
status="$T_DIR/depotd-$port.pid.status"
like "$(cat "$status")" "^result ok" "the status file says the reload was accepted"
like "$(cat "$status")" "^reloads 1" "the status file counts reloads"
i=0
while [ $i -lt 600 ]; do
	left=0
	for w in $old_workers; do kill -0 "$w" 2>/dev/null && left=1; done
	[ $left -eq 0 ] && break
	sleep 0.1; i=$((i + 1))
done
is "$left" 0 "the old generation of workers exits after reload"
check "the master survives the reload" kill -0 "$master"

# --- reload with a broken config keeps the old one
cp "$conf" "$T_DIR/good.conf"
echo 'registries = ( { name = "Bad Name"; type = "docker"; } );' >>"$conf"
workers_before=$(workers_of "$master")
kill -HUP "$master"
i=0
while ! grep -q "reload failed" "$log" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
like "$(cat "$log")" "reload failed, keeping the running configuration" "a broken config on reload is logged"
like "$(cat "$log")" "depot.conf:[0-9]+:" "the reload error names file and line"
like "$(cat "$status")" "^result failed" "the status file says the reload failed"
like "$(cat "$status")" "^message .*depot.conf:[0-9]+:" "the status file carries the error"
check "depotd still serves after a broken reload" test "$(http_status "$base/v2/")" = 200
is "$(workers_of "$master")" "$workers_before" "a broken reload leaves the workers alone"
check "the old config is still in force" test "$(err_code "$base/v2/extra/img/manifests/latest")" != NAME_UNKNOWN
cp "$T_DIR/good.conf" "$conf"

# --- a worker killed with SIGKILL is replaced; requests keep succeeding
# A request the killed worker had accepted dies with it (curl sees no
# reply, code 000); at most one such loss is allowed, and no error answer.
( n=0
  while [ $n -lt 300 ]; do
	curl -s -o /dev/null -w '%{http_code}\n' "$base/healthz"
	n=$((n + 1))
  done >"$T_DIR/load.codes" ) &
loader=$!
t_wait_for test -s "$T_DIR/load.codes"
victim=$(workers_of "$master" | awk '{print $1}')
kill -KILL "$victim"
i=0
while [ $i -lt 600 ]; do
	now=$(workers_of "$master")
	set -- $now
	if [ $# -eq 2 ] && ! echo " $now " | grep -q " $victim "; then break; fi
	sleep 0.1; i=$((i + 1))
done
set -- $(workers_of "$master")
is "$#" 2 "a SIGKILLed worker is replaced"
t_wait_gone "$loader" 600
is "$(grep -vc '^200$' "$T_DIR/load.codes")" "$(grep -c '^000$' "$T_DIR/load.codes")" "no error answers while a worker is killed"
check "at most one request lost with the killed worker" test "$(grep -c '^000$' "$T_DIR/load.codes")" -le 1
is "$(wc -l <"$T_DIR/load.codes" | tr -d ' ')" 300 "all requests of the load ran"
like "$(cat "$log")" "worker $victim killed by signal 9" "the worker's death is logged"
is "$(curl -s "$base/healthz")" ok "the index is healthy after the kill"

# --- SIGUSR1 reopens the access log
mv "$T_DIR/access-$port.log" "$T_DIR/access-$port.log.1"
kill -USR1 "$master"
# A request is written to the new file once its worker reopened the log.
usr1_logged() {
	curl -s -o /dev/null "$base/v2/"
	grep -q "GET /v2/" "$T_DIR/access-$port.log"
}
t_wait_for usr1_logged
check "after SIGUSR1 a new access log is written" grep -q "GET /v2/" "$T_DIR/access-$port.log"

# --- graceful SIGTERM while clients are busy
( n=0; bad=0
  while [ $n -lt 200 ]; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v2/")
	case $code in 200|000) ;; *) bad=$((bad + 1)) ;; esac
	n=$((n + 1))
  done
  echo "$bad" >"$T_DIR/term.bad" ) &
loader=$!
sleep 0.3
stop_depotd "$master"
is "$?" 0 "SIGTERM under load exits 0"
t_wait_gone "$loader" 600
is "$(cat "$T_DIR/term.bad")" 0 "no request got a broken answer during shutdown"
check "no worker left after SIGTERM" sh -c "! pgrep -P $master"

# --- daemon mode: detaches, writes the pid file, stops on SIGTERM
"$DEPOTD" -c "$conf"
is "$?" 0 "depotd without -f returns 0 once serving"
pidf="$T_DIR/depotd-$port.pid"
dpid=$(cat "$pidf" 2>/dev/null)
T_PIDS="$T_PIDS $dpid"
check "the pid file names a running depotd" kill -0 "$dpid"
is "$(http_status "$base/v2/")" 200 "the daemon serves"
kill -TERM "$dpid"
t_wait_gone "$dpid" 600
check "the daemon stops on SIGTERM" sh -c "! kill -0 $dpid 2>/dev/null"

# --- IPv6 loopback
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	port6=$(free_port)
	write_conf "$T_DIR/v6.conf" "$port6"
	sed -i "s/\"127.0.0.1:$port6\"/\"127.0.0.1:$port6\", \"[::1]:$port6\"/" "$T_DIR/v6.conf"
	start_depotd "$T_DIR/v6.conf" "$port6" || bail "depotd did not start on IPv6"
	is "$(http_status "http://[::1]:$port6/v2/")" 200 "depotd answers on [::1]"
	stop_depotd "$DEPOTD_PID"
else
	skip "no IPv6 loopback on this machine"
fi

# --- privilege drop as root
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	portr=$(free_port)
	write_conf "$T_DIR/root.conf" "$portr" 'user = "nobody"; group = "nogroup";'
	chmod 755 "$T_DIR"
	start_depotd "$T_DIR/root.conf" "$portr" || bail "depotd did not start as root"
	users=$(for w in $(workers_of "$DEPOTD_PID"); do ps -o user= -p "$w"; done | sort -u)
	is "$users" nobody "workers run as the configured user"
	is "$(ps -o user= -p "$DEPOTD_PID")" root "the master stays root"
	is "$(curl -s "http://127.0.0.1:$portr/healthz")" ok "workers can use the index as that user"
	stop_depotd "$DEPOTD_PID"
else
	skip "not root: privilege drop needs root"
fi

# --- SIGTERM to master and workers at once (systemd's KillMode, pkill):
# workers drain and exit cleanly, in every phase of their life
port7=$(free_port)
write_conf "$T_DIR/group.conf" "$port7"
bad=0
for round in 1 2 3 4 5; do
	"$DEPOTD" -f -c "$T_DIR/group.conf" >"$T_DIR/group-$round.log" 2>&1 &
	gpid=$!
	T_PIDS="$T_PIDS $gpid"
	i=0
	while ! curl -fs -o /dev/null "http://127.0.0.1:$port7/v2/" && [ $i -lt 1200 ]; do
		sleep 0.05; i=$((i + 1))
	done
	sleep "0.0$round"
	kill -TERM $gpid $(workers_of $gpid) 2>/dev/null
	t_wait_gone "$gpid" 600 || bad=$((bad + 1))
	grep -q "killed by signal\|PANIC\|recovery needed" "$T_DIR/group-$round.log" && bad=$((bad + 1))
done
is "$bad" 0 "SIGTERM to the whole group: clean exits, no index recovery"
