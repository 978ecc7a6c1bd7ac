#!/bin/sh
# helpers.sh: the test helpers of lib.sh themselves. free_port hands out
# ports no outgoing connection, bind to port 0 or parallel test can take
# before the server binds them; the wait helpers wait on a condition and
# give up after their bound or once the process they watch is gone.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

range=$(cat /proc/sys/net/ipv4/ip_local_port_range)
low=${range%%[!0-9]*}
high=${range##*[!0-9]}
ports=""
bad=0
for i in 1 2 3 4 5; do
	p=$(free_port)
	[ "$p" -ge "$low" ] && [ "$p" -le "$high" ] && bad=$((bad + 1))
	ports="$ports $p"
done
is "$bad" 0 "free_port stays out of the ephemeral range ($low-$high)"
# shellcheck disable=SC2086
is "$(printf '%s\n' $ports | sort -u | wc -l | tr -d ' ')" 5 \
    "free_port never hands out a port twice"
p=${ports##* }
check "a port free_port handed out can be bound" python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)' "$p"
is "$(cat "$T_PORTS/$p" 2>/dev/null)" "$T_DIR" "the port is reserved for this test"

# Another test, running at the same time, gets other ports; its
# reservations go when it ends.
sh -c '. "$1/tests/regress/lib.sh"
for i in 1 2 3 4 5; do
	free_port
done >"$2"
cp "$T_DIR/ports" "$2.mine"' helper "$DEPOT_SRCDIR" "$T_DIR/other" >/dev/null
# shellcheck disable=SC2086
is "$(printf '%s\n' $ports | grep -cxFf "$T_DIR/other")" 0 \
    "a parallel test gets none of this test's ports"
left=0
while read -r q; do
	[ -e "$T_PORTS/$q" ] && left=$((left + 1))
done <"$T_DIR/other"
is "$left" 0 "a test's reservations are dropped when it ends"
is "$(wc -l <"$T_DIR/other.mine" | tr -d ' ')" 5 "... it had held them all"

# A reservation whose test is gone (killed, its directory removed) does
# not keep the port. Here every port is reserved so, by tests that are gone.
mkdir "$T_DIR/ports-gone"
python3 -c '
import os, sys
low, high = int(sys.argv[2]), int(sys.argv[3])
for p in range(1024, 65535):
    if p < low or p > high:
        with open(os.path.join(sys.argv[1], str(p)), "w") as f:
            f.write("/nonexistent/depot-test\n")' "$T_DIR/ports-gone" "$low" "$high"
p=$(T_PORTS=$T_DIR/ports-gone free_port)
like "$p" '^[0-9]+$' "a reservation of a test that is gone is reused"
is "$(cat "$T_DIR/ports-gone/$p" 2>/dev/null)" "$T_DIR" "... and then names this test"

# --- waits
( sleep 1; touch "$T_DIR/later" ) &
check "t_wait_for waits until a condition holds" t_wait_for test -e "$T_DIR/later"
t_wait_for -t 1 false
is "$?" 1 "t_wait_for gives up after its bound"
: >"$T_DIR/log"
( sleep 1; echo "listening on 127.0.0.1:1" >>"$T_DIR/log" ) &
check "t_wait_grep waits for a line" t_wait_grep 'listening on [0-9.:]+' "$T_DIR/log"
sh -c 'exit 0' &
dead=$!
wait "$dead"
t_wait_alive "$dead" false
is "$?" 1 "t_wait_alive gives up when the process is gone"
sleep 600 &
alive=$!
T_PIDS="$T_PIDS $alive"
t_wait_status -t 1 "http://127.0.0.1:${ports%% *}/" 200 "$alive"
is "$?" 1 "t_wait_status gives up after its bound"
