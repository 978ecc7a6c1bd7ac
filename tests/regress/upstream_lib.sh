# tests/regress/upstream_lib.sh: real upstream registries for the proxy
# tests. Source it after lib.sh. The upstreams are Debian's docker-registry
# (the reference implementation, distribution 2.8) on 127.0.0.1, each with
# its own storage, configuration and logs in the test directory.
#
# start_upstream NAME MODE
#	MODE is plain, htpasswd or token. Starts docker-registry on a free
#	127.0.0.1 port with filesystem storage in $T_DIR/upstream-NAME,
#	delete enabled and its access log on; everything it prints goes to
#	$T_DIR/upstream-NAME.log. Waits (bounded) until /v2/ answers 200
#	(plain) or 401 (htpasswd, token). Sets UPSTREAM_PORT and UPSTREAM_PID
#	(the pid is also added to T_PIDS, so the EXIT trap stops it).
#	htpasswd: a bcrypt password file with user "ci", password "ci-secret".
#	token: first starts tests/tools/token_issuer.py on another free port
#	(sets TOKEN_PORT and TOKEN_PID, its log of token requests is
#	$T_DIR/token-NAME.log, its own output $T_DIR/token-NAME.out), and the
#	registry trusts its certificate. The issuer's user is ci:ci-secret
#	and anonymous clients get pull access.
#	Starting NAME again after stop_upstream NAME reuses its port(s),
#	data and keys: the port is kept in $T_DIR/upstream-NAME.port (the
#	issuer's in $T_DIR/token-NAME.port).
#	Call it directly, not in $(...): the servers must be children of the
#	test's shell.
#	Optional settings, read when a token upstream first starts (a
#	restart keeps them; prefix them to the call: VAR=x start_upstream ..):
#	  UPSTREAM_REALM_HOST  host name of the realm the registry announces
#	                       (default 127.0.0.1; e.g. localhost to put the
#	                       token service on another host name)
#	  UPSTREAM_TOKEN_ARGS  extra token_issuer.py arguments, such as
#	                       --no-anonymous
# stop_upstream NAME
#	Stops that registry and its token issuer by pid (SIGTERM, bounded
#	wait, then SIGKILL) and takes them out of T_PIDS.
# upstream_push NAME SRC DEST_REPO:TAG
#	skopeo copy --all SRC (oci:/dir:tag, dir:/dir, ...) to the upstream
#	NAME as DEST_REPO:TAG, with ci:ci-secret for htpasswd and token
#	upstreams. skopeo's temp files and configuration stay in $T_DIR.
# upstream_count NAME METHOD PATH_REGEX
#	Prints how many requests the upstream's access log holds with that
#	method and a request path (with its query) matching the extended
#	regular expression, whatever the answer was.
# upstream_port NAME
#	Prints the upstream's port.
#
# UPSTREAM_USER and UPSTREAM_PASSWORD hold the credentials (ci, ci-secret).

UPSTREAM_USER=ci
UPSTREAM_PASSWORD=ci-secret
UPSTREAM_PORT=
UPSTREAM_PID=
TOKEN_PORT=
TOKEN_PID=
mkdir -p "$T_DIR/upstream-tmp"
: >"$T_DIR/upstream-registries.conf"
echo '{"auths":{}}' >"$T_DIR/upstream-auth.json"

# up_forget PID: take a pid out of T_PIDS.
up_forget() {
	# shellcheck disable=SC2086
	T_PIDS=$(printf ' %s ' $T_PIDS | sed "s/ $1 / /g")
}

# up_wait_status URL WANT PID: wait (up to $T_WAIT s) until URL answers
# WANT while PID lives.
up_wait_status() {
	t_wait_status "$1" "$2" "$3"
}

# up_sk ARGS: skopeo with a time limit, no signature policy, and its temp
# files, registries.conf and credentials file in the test directory.
up_sk() {
	TMPDIR=$T_DIR/upstream-tmp \
	    CONTAINERS_REGISTRIES_CONF=$T_DIR/upstream-registries.conf \
	    REGISTRY_AUTH_FILE=$T_DIR/upstream-auth.json \
	    timeout 120 skopeo --insecure-policy "$@"
}

# up_start_token NAME: start (or restart) the token issuer of upstream NAME;
# its port, realm host and arguments are kept in $T_DIR/token-NAME.*.
up_start_token() {
	local name="$1" pf="$T_DIR/token-$1.port"
	if [ -f "$pf" ]; then
		TOKEN_PORT=$(cat "$pf")
	else
		TOKEN_PORT=$(free_port)
		echo "$TOKEN_PORT" >"$pf"
		echo "${UPSTREAM_REALM_HOST:-127.0.0.1}" >"$T_DIR/token-$name.realmhost"
		echo "${UPSTREAM_TOKEN_ARGS:-}" >"$T_DIR/token-$name.args"
	fi
	# shellcheck disable=SC2046
	python3 "$DEPOT_SRCDIR/tests/tools/token_issuer.py" --port "$TOKEN_PORT" \
	    --dir "$T_DIR/token-$name" --log "$T_DIR/token-$name.log" \
	    --issuer depot-test-issuer --service "depot-test-$name" \
	    $(cat "$T_DIR/token-$name.args") </dev/null >>"$T_DIR/token-$name.out" 2>&1 &
	TOKEN_PID=$!
	T_PIDS="$T_PIDS $TOKEN_PID"
	echo "$TOKEN_PID" >"$T_DIR/token-$name.pid"
	if ! up_wait_status "http://127.0.0.1:$TOKEN_PORT/healthz" 200 "$TOKEN_PID"; then
		echo "# token issuer of upstream $name did not start" >&2
		tail -n 5 "$T_DIR/token-$name.out" | sed 's/^/# /' >&2
		return 1
	fi
	return 0
}

start_upstream() {
	local name="$1" mode="$2" dir="$T_DIR/upstream-$1" conf="$T_DIR/upstream-$1.yml"
	local pf="$T_DIR/upstream-$1.port" want=401 auth=""
	command -v docker-registry >/dev/null || {
		echo "# docker-registry is not installed" >&2
		return 1
	}
	if [ -f "$pf" ]; then
		UPSTREAM_PORT=$(cat "$pf")
	else
		UPSTREAM_PORT=$(free_port)
		echo "$UPSTREAM_PORT" >"$pf"
	fi
	echo "$mode" >"$T_DIR/upstream-$name.mode"
	mkdir -p "$dir"
	case $mode in
	plain)
		want=200
		;;
	htpasswd)
		if [ ! -f "$T_DIR/upstream-$name.htpasswd" ]; then
			htpasswd -Bbn "$UPSTREAM_USER" "$UPSTREAM_PASSWORD" \
			    >"$T_DIR/upstream-$name.htpasswd" || return 1
		fi
		auth="auth:
  htpasswd:
    realm: depot-test-$name
    path: $T_DIR/upstream-$name.htpasswd"
		;;
	token)
		up_start_token "$name" || return 1
		auth="auth:
  token:
    realm: http://$(cat "$T_DIR/token-$name.realmhost"):$TOKEN_PORT/token
    service: depot-test-$name
    issuer: depot-test-issuer
    rootcertbundle: $T_DIR/token-$name/cert.pem"
		;;
	*)
		echo "# start_upstream: unknown mode '$mode'" >&2
		return 1
		;;
	esac
	cat >"$conf" <<EOC
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$UPSTREAM_PORT
  secret: depot-test-$name
$auth
EOC
	docker-registry serve "$conf" </dev/null >>"$T_DIR/upstream-$name.log" 2>&1 &
	UPSTREAM_PID=$!
	T_PIDS="$T_PIDS $UPSTREAM_PID"
	echo "$UPSTREAM_PID" >"$T_DIR/upstream-$name.pid"
	if ! up_wait_status "http://127.0.0.1:$UPSTREAM_PORT/v2/" "$want" "$UPSTREAM_PID"; then
		echo "# upstream $name ($mode) did not start" >&2
		tail -n 5 "$T_DIR/upstream-$name.log" | sed 's/^/# /' >&2
		return 1
	fi
	return 0
}

# up_stop_pid PIDFILE: stop the process a pid file names, if running.
up_stop_pid() {
	local pid
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	kill -TERM "$pid" 2>/dev/null
	t_wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null
	t_wait_gone "$pid" 20
	wait "$pid" 2>/dev/null
	up_forget "$pid"
	return 0
}

stop_upstream() {
	up_stop_pid "$T_DIR/upstream-$1.pid"
	up_stop_pid "$T_DIR/token-$1.pid"
}

upstream_port() {
	cat "$T_DIR/upstream-$1.port"
}

upstream_push() {
	local name="$1" src="$2" dest="$3" mode
	set -- copy --all --dest-tls-verify=false
	mode=$(cat "$T_DIR/upstream-$name.mode" 2>/dev/null)
	case $mode in
	htpasswd | token)
		set -- "$@" --dest-creds "$UPSTREAM_USER:$UPSTREAM_PASSWORD"
		;;
	esac
	up_sk "$@" "$src" "docker://127.0.0.1:$(upstream_port "$name")/$dest"
}

upstream_count() {
	local log="$T_DIR/upstream-$1.log"
	[ -f "$log" ] || { echo 0; return 0; }
	UP_METHOD=$2 UP_RE=$3 awk -F'"' '
	{
		# Combined log format: ... "METHOD PATH PROTO" status ...
		if (split($2, r, " ") != 3 || r[3] !~ /^HTTP\//)
			next
		if (r[1] == ENVIRON["UP_METHOD"] && r[2] ~ ENVIRON["UP_RE"])
			n++
	}
	END { print n + 0 }' "$log"
}
