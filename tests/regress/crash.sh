#!/bin/sh
# crash.sh: crash safety. First, in order: a PATCH's bytes are synced
# before its offset is recorded and answered, and a worker killed in
# between leaves an offset no larger than the file (the upload resumes).
# Then rounds of a bounded mixed load (concurrent skopeo pushes of small
# multi-layer OCI images built on the fly, skopeo pulls of pushed ones,
# chunked uploads with curl) during which random workers and then the
# whole daemon (master and workers) are killed with SIGKILL, and depotd
# is started again. After each round: every client either completed,
# with content that verifies against its source, or failed with an
# error; interrupted uploads are resumable from the offset GET tells, or
# cleanly unknown (404 BLOB_UPLOAD_UNKNOWN); every push that completed
# pulls back; the store is sound (depotctl fsck is clean, and
# every blob file's SHA-256 is its name). Three rounds, or fewer when
# DEPOT_TEST_ROUNDS says so (lib.sh; scripts/test's sanitizer pass).
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

MKIMAGE="$DEPOT_SRCDIR/tests/tools/mkimage.py"
: "${DEPOTCTL:=${DEPOT_BUILDDIR:-$(pwd)}/src/depotctl}"
[ -x "$DEPOTCTL" ] || skip_all "no depotctl at $DEPOTCTL"
ROUNDS=$(t_rounds 3)	# kill rounds, each ending with the whole daemon killed
PUSHERS=3
PULLERS=2
TAGS=3		# images per pusher and round
MAX_OPS=12	# per client and round: the load is bounded
CHUNK=262144	# curl uploads: PATCH size
BLOB_CHUNKS=6	# curl uploads: chunks per blob

command -v skopeo >/dev/null || skip_all "skopeo is not installed (scripts/deps test installs it)"
command -v jq >/dev/null || skip_all "jq is not installed (scripts/deps test installs it)"
command -v curl >/dev/null || skip_all "curl is not installed (scripts/deps test installs it)"
command -v shuf >/dev/null || skip_all "shuf is not installed"
python3 -c 'import random; random.Random(0).randbytes(1)' 2>/dev/null ||
	skip_all "python3 (3.9 or later) is needed to build test images"

mkdir -p "$T_DIR/tmp"
: >"$T_DIR/registries.conf"
echo '{"auths":{}}' >"$T_DIR/auth.json"

port=$(free_port)
reg="127.0.0.1:$port"
base="http://$reg"
data="$T_DIR/data-$port"
log="$T_DIR/depotd-$port.log"
alog="$T_DIR/access-$port.log"
write_conf "$T_DIR/depot.conf" "$port" "request_timeout = 30;"
# A PATCH's sync waits while this file exists (it does only in part 1).
DEPOT_TEST_SYNC_HOLD="$T_DIR/synchold"
export DEPOT_TEST_SYNC_HOLD
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"
master=$DEPOTD_PID

sk() {
	TMPDIR=$T_DIR/tmp CONTAINERS_REGISTRIES_CONF=$T_DIR/registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/auth.json \
	    timeout 60 skopeo --insecure-policy "$@"
}

push() {
	sk copy --dest-tls-verify=false "$1" "docker://$reg/$2"
}

pull() {
	sk copy --src-tls-verify=false "docker://$reg/$1" "$2"
}

mkimage() {
	python3 "$MKIMAGE" "$@" || bail "mkimage.py $* failed"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# req METHOD URL [CURL_ARGS]: status code; headers in $T_DIR/h, body in $T_DIR/b.
req() {
	local m=$1 url=$2
	shift 2
	curl -s -X "$m" -D "$T_DIR/h" -o "$T_DIR/b" -w '%{http_code}' \
	    --max-time 30 "$@" "$url"
}

hdr() {
	tr -d '\r' <"$T_DIR/h" | grep -i "^$1:" | head -n 1 | sed 's/^[^:]*: *//'
}

# workers_alive N: the master has N live workers.
workers_alive() {
	[ "$(workers_of "$master" | wc -w)" -eq "$1" ]
}

# serving: the daemon answers /v2/.
serving() {
	[ "$(http_status "$base/v2/" --max-time 10)" = 200 ]
}

# kill_worker: SIGKILL one worker at random; wait until the master has
# replaced it and the service answers.
kill_worker() {
	local w
	w=$(workers_of "$master" | tr ' ' '\n' | grep . | shuf -n 1)
	[ -n "$w" ] || return 1
	kill -KILL "$w"
	t_wait_for t_wait_gone "$w" 1 &&
	    t_wait_alive "$master" workers_alive 2 &&
	    t_wait_alive "$master" serving
}

# kill_daemon: SIGKILL the master and its workers at once (the master is
# stopped first, so that it forks nothing meanwhile), and reap them.
kill_daemon() {
	local ws w
	kill -STOP "$master"
	ws=$(workers_of "$master")
	# shellcheck disable=SC2086
	kill -KILL "$master" $ws
	wait "$master" 2>/dev/null
	for w in $ws; do
		t_wait_gone "$w" $((T_WAIT * 10)) || return 1
	done
}

restart() {
	mv "$log" "$log.$1"
	start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not restart"
	master=$DEPOTD_PID
}

# progress N: the access log has at least N lines.
progress() {
	[ "$(wc -l <"$alog" 2>/dev/null || echo 0)" -ge "$1" ]
}

# store_sound: every blob file holds the content its name says; prints
# the bad ones.
store_sound() {
	find "$data/blobs/sha256" -type f -exec sha256sum {} + |
	    awk '{ n = split($2, p, "/"); if (p[n] != $1) { print $2; bad = 1 } }
		END { exit bad }'
}


# verify_pull OUT SRC DIGEST: a layout pulled into OUT names DIGEST, and
# each of its blobs is intact and the same as in the source layout SRC.
verify_pull() {
	local out=$1 src=$2 want=$3 f n
	[ "$(jq -r '.manifests[0].digest' "$out/index.json")" = "$want" ] || {
		echo "$out: names another manifest than $want"
		return 1
	}
	for f in "$out"/blobs/sha256/*; do
		n=${f##*/}
		[ "$(sha "$f")" = "$n" ] || { echo "$f: wrong content"; return 1; }
		cmp -s "$f" "$src/blobs/sha256/$n" || {
			echo "$f: differs from the source"
			return 1
		}
	done
	return 0
}

# ---------------------------------------------------------------------
# Part 1: the order of a PATCH. Its sync waits (the hold file); the body
# is in the file by then, but the offset must not have moved and the
# PATCH not been answered. Both workers are killed there; the session
# resumes from the old offset.
head -c $((3 * CHUNK)) /dev/urandom >"$T_DIR/p1"
head -c "$CHUNK" "$T_DIR/p1" >"$T_DIR/p1.1"
tail -c +$((CHUNK + 1)) "$T_DIR/p1" | head -c "$CHUNK" >"$T_DIR/p1.2"
tail -c +$((2 * CHUNK + 1)) "$T_DIR/p1" >"$T_DIR/p1.3"
d1="sha256:$(sha "$T_DIR/p1")"
req POST "$base/v2/docker-local/order/blobs/uploads/" >/dev/null
loc=$(hdr Location)
id=${loc##*/}
ufile="$data/tmp/upload-$id"
is "$(req PATCH "$loc" --data-binary @"$T_DIR/p1.1")" 202 "a first chunk is taken"
is "$(hdr Range)" "0-$((CHUNK - 1))" "... and recorded"
touch "$T_DIR/synchold"
curl -s -o /dev/null -w '%{http_code}' --max-time 120 -X PATCH \
    --data-binary @"$T_DIR/p1.2" "$loc" >"$T_DIR/p1.code" &
patcher=$!
file_holds() {
	[ "$(stat -c %s "$ufile" 2>/dev/null || echo 0)" -ge "$1" ]
}
check "the second chunk's bytes reach the session's file" \
    t_wait_for file_holds $((2 * CHUNK))
is "$(req GET "$loc"):$(hdr Range)" "204:0-$((CHUNK - 1))" \
    "its offset is not recorded before the sync"
check "... and the PATCH is not answered" kill -0 "$patcher"
ws=$(workers_of "$master")
# shellcheck disable=SC2086
kill -KILL $ws
wait "$patcher"
code=$(cat "$T_DIR/p1.code")
check "the PATCH of a killed worker is not acknowledged ($code)" test "$code" != 202
check "the master replaces the killed workers" t_wait_alive "$master" workers_alive 2
check "... and the service answers" t_wait_alive "$master" serving
rm -f "$T_DIR/synchold"
is "$(req GET "$loc"):$(hdr Range)" "204:0-$((CHUNK - 1))" \
    "after the kill the session tells the old offset"
size=$(stat -c %s "$ufile")
check "... which the file covers ($size bytes)" test "$size" -ge "$CHUNK"
is "$(req PATCH "$loc" --data-binary @"$T_DIR/p1.2")" 202 "the chunk is sent again and taken"
is "$(hdr Range)" "0-$((2 * CHUNK - 1))" "... and recorded"
is "$(req PUT "$loc?digest=$d1" --data-binary @"$T_DIR/p1.3")" 201 "the upload completes"
curl -s -o "$T_DIR/p1.got" "$base/v2/docker-local/order/blobs/$d1"
check "... with the whole blob" cmp "$T_DIR/p1.got" "$T_DIR/p1"

# ---------------------------------------------------------------------
# Part 2: kill rounds under load.

# A base image every puller can pull from the start.
src_base=$T_DIR/src-base
dig_base=$(mkimage "$src_base" --media oci --tag b --seed base --layers 2 --layer-size 131072)
check "push the base image" push "oci:$src_base:b" docker-local/crash/base:b
: >"$T_DIR/completed"
printf '%s %s %s\n' docker-local/crash/base:b "$src_base" "$dig_base" >"$T_DIR/completed"

# pusher R J: push images of round R, pusher J, until told to stop;
# a line "rc ref src digest" per push in push-R-J.res.
pusher() {
	local r=$1 j=$2 k=0 t src ref rc
	src=$T_DIR/src-$r-$j
	while [ ! -e "$T_DIR/stop" ] && [ $k -lt $MAX_OPS ]; do
		t=$((k % TAGS))
		ref="docker-local/crash/r$r-p$j:k$k"
		push "oci:$src:t$t" "$ref" >>"$T_DIR/push-$r-$j.out" 2>&1
		rc=$?
		echo "$rc $ref $src $(cat "$src.t$t")" >>"$T_DIR/push-$r-$j.res"
		k=$((k + 1))
	done
}

# puller R J: pull completed images until told to stop; "rc ref src
# digest out" per pull in pull-R-J.res.
puller() {
	local r=$1 j=$2 k=0 line ref src want out rc
	while [ ! -e "$T_DIR/stop" ] && [ $k -lt $MAX_OPS ]; do
		line=$(shuf -n 1 "$T_DIR/completed")
		ref=${line%% *}
		src=$(echo "$line" | cut -d' ' -f2)
		want=$(echo "$line" | cut -d' ' -f3)
		out=$T_DIR/pulled-$r-$j-$k
		pull "$ref" "oci:$out:x" >>"$T_DIR/pull-$r-$j.out" 2>&1
		rc=$?
		echo "$rc $ref $src $want $out" >>"$T_DIR/pull-$r-$j.res"
		k=$((k + 1))
	done
}

# uploader R: chunked uploads with curl until told to stop. A session
# that fails midway is listed in upl-R.int as "location acked file":
# acked is the offset of the last 202.
uploader() {
	local r=$1 k=0 f loc code acked c d
	while [ ! -e "$T_DIR/stop" ] && [ $k -lt $MAX_OPS ]; do
		f=$T_DIR/upl-$r-$k
		head -c $((BLOB_CHUNKS * CHUNK)) /dev/urandom >"$f"
		k=$((k + 1))
		code=$(curl -s -o /dev/null -D "$f.h" -w '%{http_code}' \
		    --max-time 30 -X POST "$base/v2/docker-local/crash/upl/blobs/uploads/")
		[ "$code" = 202 ] || continue
		loc=$(tr -d '\r' <"$f.h" | grep -i '^location:' | sed 's/^[^:]*: *//')
		acked=0
		c=0
		while [ $c -lt $BLOB_CHUNKS ]; do
			tail -c +$((c * CHUNK + 1)) "$f" | head -c "$CHUNK" >"$f.c"
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
			    -X PATCH --data-binary @"$f.c" "$loc")
			[ "$code" = 202 ] || break
			c=$((c + 1))
			acked=$((c * CHUNK))
		done
		if [ $c -lt $BLOB_CHUNKS ]; then
			echo "$loc $acked $f" >>"$T_DIR/upl-$r.int"
			continue
		fi
		d="sha256:$(sha "$f")"
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
		    -X PUT "$loc?digest=$d")
		if [ "$code" = 201 ]; then
			echo "ok $d $f" >>"$T_DIR/upl-$r.res"
		else
			echo "$loc $acked $f" >>"$T_DIR/upl-$r.int"
		fi
	done
}

# check_round R: the outcome of every client of round R.
check_round() {
	local r=$1 j rc ref src want out n bad okc failc code range end
	local loc acked f d rest
	check "round $r: depotctl fsck is clean after the restart" \
	    "$DEPOTCTL" -c "$T_DIR/depot.conf" fsck
	check "round $r: every blob file holds the content its name says" store_sound

	# pulls: completed and verified, or failed with an error
	okc=0 failc=0 bad=""
	for j in $(seq 1 $PULLERS); do
		[ -f "$T_DIR/pull-$r-$j.res" ] || continue
		while read -r rc ref src want out; do
			if [ "$rc" = 0 ]; then
				if verify_pull "$out" "$src" "$want" >>"$T_DIR/verify.out"; then
					okc=$((okc + 1))
				else
					bad="$bad $ref"
				fi
			else
				failc=$((failc + 1))
			fi
			rm -rf "$out"
		done <"$T_DIR/pull-$r-$j.res"
	done
	is "$bad" "" "round $r: every pull that completed verifies ($okc completed, $failc failed)"
	if [ "$failc" -gt 0 ]; then
		is "$(cat "$T_DIR"/pull-$r-*.out | grep -c 'level=fatal')" \
		    "$failc" "round $r: each failed pull said why"
	fi

	# pushes: every one that completed pulls back and verifies
	okc=0 failc=0 bad=""
	for j in $(seq 1 $PUSHERS); do
		[ -f "$T_DIR/push-$r-$j.res" ] || continue
		while read -r rc ref src want; do
			if [ "$rc" != 0 ]; then
				failc=$((failc + 1))
				continue
			fi
			okc=$((okc + 1))
			out=$T_DIR/back-$r-$j
			if pull "$ref" "oci:$out:x" >>"$T_DIR/back.out" 2>&1 &&
			    verify_pull "$out" "$src" "$want" >>"$T_DIR/verify.out"; then
				echo "$ref $src $want" >>"$T_DIR/completed"
			else
				bad="$bad $ref"
			fi
			rm -rf "$out"
		done <"$T_DIR/push-$r-$j.res"
	done
	is "$bad" "" "round $r: every completed push pulls back intact ($okc completed, $failc failed)"
	if [ "$failc" -gt 0 ]; then
		is "$(cat "$T_DIR"/push-$r-*.out | grep -c 'level=fatal')" \
		    "$failc" "round $r: each failed push said why"
	fi

	# curl uploads: completed ones are stored; interrupted ones resume
	# from the offset GET tells (the last acknowledged one, or one chunk
	# more whose answer was lost) or are unknown
	bad=""
	if [ -f "$T_DIR/upl-$r.res" ]; then
		while read -r rest d f; do
			curl -s -o "$f.got" "$base/v2/docker-local/crash/upl/blobs/$d"
			cmp -s "$f.got" "$f" || bad="$bad $d"
		done <"$T_DIR/upl-$r.res"
	fi
	is "$bad" "" "round $r: completed chunked uploads are stored intact"
	n=0 bad=""
	if [ -f "$T_DIR/upl-$r.int" ]; then
		while read -r loc acked f; do
			n=$((n + 1))
			code=$(req GET "$loc")
			if [ "$code" = 404 ]; then
				grep -q BLOB_UPLOAD_UNKNOWN "$T_DIR/b" ||
				    bad="$bad $loc:404-without-code"
				continue
			fi
			range=$(hdr Range)
			end=${range#0-}
			if [ "$code" != 204 ] || [ "$range" = "$end" ]; then
				bad="$bad $loc:$code:$range"
				continue
			fi
			[ "$range" = 0-0 ] && end=0 || end=$((end + 1))
			if [ "$end" != "$acked" ] && [ "$end" != $((acked + CHUNK)) ]; then
				bad="$bad $loc:offset-$end-acked-$acked"
				continue
			fi
			tail -c +$((end + 1)) "$f" >"$f.rest"
			d="sha256:$(sha "$f")"
			if [ -s "$f.rest" ]; then
				code=$(req PATCH "$loc" --data-binary @"$f.rest")
				[ "$code" = 202 ] || { bad="$bad $loc:resume-$code"; continue; }
			fi
			code=$(req PUT "$loc?digest=$d")
			[ "$code" = 201 ] || { bad="$bad $loc:put-$code"; continue; }
			curl -s -o "$f.got" "$base/v2/docker-local/crash/upl/blobs/$d"
			cmp -s "$f.got" "$f" || bad="$bad $loc:content"
		done <"$T_DIR/upl-$r.int"
	fi
	is "$bad" "" "round $r: $n interrupted uploads resume from their offset or are unknown"

	# every image completed so far (also in earlier rounds) is served
	bad="" n=0
	while read -r ref src want; do
		n=$((n + 1))
		[ "$(curl -s -o /dev/null -w '%{http_code}' \
		    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		    "$base/v2/${ref%:*}/manifests/${ref##*:}")" = 200 ] ||
		    bad="$bad $ref"
	done <"$T_DIR/completed"
	is "$bad" "" "round $r: all $n images completed so far are served"
}

# The images of every round, built in one run of python (its start is
# slow on a busy machine): one layout per pusher and round with TAGS
# images, whose first layer each shares with images of the other pushers.
python3 - "$MKIMAGE" "$T_DIR" "$ROUNDS" "$PUSHERS" "$TAGS" <<'PY' ||
import contextlib, importlib.util, sys

spec = importlib.util.spec_from_file_location("mkimage", sys.argv[1])
mk = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mk)
top, rounds, pushers, tags = sys.argv[2], *map(int, sys.argv[3:6])
for r in range(1, rounds + 1):
    for j in range(1, pushers + 1):
        for t in range(tags):
            sys.argv = ["mkimage.py", "%s/src-%d-%d" % (top, r, j),
                        "--media", "oci", "--tag", "t%d" % t,
                        "--seed", "r%d-p%d-t%d" % (r, j, t),
                        "--layers", "3", "--layer-size", "262144",
                        "--shared-layers", "1", "--shared-seed", "shared%d" % t]
            with open("%s/src-%d-%d.t%d" % (top, r, j, t), "w") as out:
                with contextlib.redirect_stdout(out):
                    if mk.main():
                        sys.exit(1)
PY
	bail "building the test images failed"

for r in $(seq 1 $ROUNDS); do
	rm -f "$T_DIR/stop"
	pids=""
	for j in $(seq 1 $PUSHERS); do
		pusher "$r" "$j" &
		pids="$pids $!"
	done
	for j in $(seq 1 $PULLERS); do
		puller "$r" "$j" &
		pids="$pids $!"
	done
	uploader "$r" &
	pids="$pids $!"

	# Two workers killed, then the whole daemon, each after the load
	# has made progress (more requests in the access log).
	kills=0
	for k in 1 2; do
		lines=$(wc -l <"$alog")
		t_wait_alive "$master" progress $((lines + 15))
		kill_worker && kills=$((kills + 1))
	done
	is "$kills" 2 "round $r: two workers killed under load, and replaced"
	lines=$(wc -l <"$alog")
	t_wait_alive "$master" progress $((lines + 15))
	touch "$T_DIR/stop"	# no new client requests after this one
	check "round $r: the whole daemon is killed under load" kill_daemon
	for pid in $pids; do
		wait "$pid"
	done
	restart "$r"
	check_round "$r"
done


stop_depotd "$master"
is "$?" 0 "depotd stops cleanly after the rounds"
check "no sanitizer report in the server logs" \
    sh -c "! grep -E 'ERROR: [A-Za-z]+Sanitizer|runtime error' '$log'*"
check "no worker exited with an error" \
    sh -c "! grep -E 'worker [0-9]+ exited with status [1-9]' '$log'*"
