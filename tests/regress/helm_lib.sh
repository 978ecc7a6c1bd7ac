# tests/regress/helm_lib.sh: the Helm client, charts and static Helm
# repositories for the Helm tests. Source it after lib.sh.
#
# helm_init
#	Skips the whole test when helm v3, nginx, htpasswd, curl or a python3
#	with the yaml module is missing (scripts/deps test installs them).
#	Gives helm a private configuration, cache and data directory in the
#	test directory (HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_DATA_HOME,
#	HELM_REGISTRY_CONFIG) and sets HELM_PY to that python3.
# hm ARGS
#	helm with a time limit; output to stdout/stderr as usual.
# make_chart NAME VERSION [DEPNAME DEPVERSION DEPREPO]...
#	A chart made by `helm create NAME` with that version (appVersion
#	"app-VERSION", description naming both and $MC_NOTE when set, so
#	that two charts of one name and version differ), packaged into
#	${MC_OUT:-$T_DIR/charts}/NAME-VERSION.tgz (printed). Its source
#	directory stays in $T_DIR/src/NAME-VERSION/NAME. With DEP*, the chart
#	declares those dependencies in its Chart.yaml and is not packaged
#	(helm wants them in charts/ first): the source directory is printed.
# start_static NAME [auth]
#	nginx serving $T_DIR/www-NAME as a static site on a free 127.0.0.1
#	port (kept in $T_DIR/static-NAME.port: a restart after stop_static
#	reuses it; sets STATIC_PORT). With "auth", every request needs Basic
#	credentials $STATIC_USER:$STATIC_PASSWORD (auth_basic, an htpasswd
#	file). The access log $T_DIR/static-NAME.access has one line per
#	request: METHOD PATH STATUS REMOTE_USER AUTH(yes|no) IF_NONE_MATCH
#	IF_MODIFIED_SINCE, space separated, "-" for absent values.
# stop_static NAME
#	Stops that nginx by pid and waits until it is gone.
# static_count NAME PATH_REGEX [STATUS]
#	How many requests the access log of NAME holds for a path matching
#	the extended regular expression (and with that status).
# index_check FILE [ARGS]
#	tests/tools/helm_index.py check FILE ARGS with HELM_PY; its
#	complaints go to stderr as TAP comments.
# sha256 FILE
#	The hex sha256 of FILE.
# vm_hwm PID, vm_rss PID
#	The process's peak and current resident set size in kB.

STATIC_USER=ci
STATIC_PASSWORD=ci-helm-secret
HELM_PY=
HELM_INDEX="$DEPOT_SRCDIR/tests/tools/helm_index.py"

helm_init() {
	local c p
	for c in curl nginx; do
		command -v "$c" >/dev/null 2>&1 ||
		    skip_all "$c is not installed (scripts/deps test installs it)"
	done
	command -v htpasswd >/dev/null 2>&1 ||
	    skip_all "htpasswd is not installed (apache2-utils; scripts/deps test installs it)"
	# scripts/deps puts helm in /usr/local/bin, which a minimal PATH lacks.
	case :$PATH: in
	*:/usr/local/bin:*) ;;
	*) PATH=$PATH:/usr/local/bin ;;
	esac
	helm version --short 2>/dev/null | grep -q '^v3\.' ||
	    skip_all "helm v3 is not installed (scripts/deps test installs it)"
	# /usr/bin/python3 first: a python3 wrapper earlier on PATH (pyenv)
	# can cost a second per start on a busy machine.
	for p in /usr/bin/python3 python3; do
		if "$p" -c 'import yaml' 2>/dev/null; then
			HELM_PY=$p
			break
		fi
	done
	[ -n "$HELM_PY" ] ||
	    skip_all "python3 has no yaml module (python3-yaml; scripts/deps test installs it)"
	export HELM_CONFIG_HOME="$T_DIR/helm/config"
	export HELM_CACHE_HOME="$T_DIR/helm/cache"
	export HELM_DATA_HOME="$T_DIR/helm/data"
	export HELM_REGISTRY_CONFIG="$T_DIR/helm/config/registry/config.json"
	export HELM_REPOSITORY_CONFIG="$T_DIR/helm/config/repositories.yaml"
	export HELM_REPOSITORY_CACHE="$T_DIR/helm/cache/repository"
	unset HELM_KUBECONTEXT HELM_NAMESPACE HELM_DRIVER 2>/dev/null
	export KUBECONFIG="$T_DIR/helm/kubeconfig"
	mkdir -p "$HELM_CONFIG_HOME" "$HELM_CACHE_HOME" "$HELM_DATA_HOME" \
	    "$T_DIR/charts" "$T_DIR/src"
}

hm() {
	timeout 120 helm "$@"
}

make_chart() {
	local name=$1 version=$2 dir="$T_DIR/src/$1-$2" out=${MC_OUT:-$T_DIR/charts}
	local note=${MC_NOTE:+ ($MC_NOTE)}
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir" "$out"
	# `helm create` once; later charts are copies with the name replaced.
	if [ ! -d "$T_DIR/src/.base/depotbase" ]; then
		mkdir -p "$T_DIR/src/.base" &&
		    hm create "$T_DIR/src/.base/depotbase" >/dev/null || return 1
	fi
	cp -R "$T_DIR/src/.base/depotbase" "$dir/$name" &&
	    find "$dir/$name" -type f -exec sed -i "s/depotbase/$name/g" {} + || return 1
	sed -i -e "s/^description: .*/description: Chart $name version $version for the depot tests$note/" \
	    "$dir/$name/Chart.yaml"
	if [ $# -ge 3 ]; then
		echo "dependencies:" >>"$dir/$name/Chart.yaml"
		while [ $# -ge 3 ]; do
			printf -- '- name: %s\n  version: "%s"\n  repository: "%s"\n' \
			    "$1" "$2" "$3" >>"$dir/$name/Chart.yaml"
			shift 3
		done
		# helm package needs the dependencies in charts/ first.
		echo "$dir/$name"
		return 0
	fi
	hm package "$dir/$name" --version "$version" --app-version "app-$version" \
	    -d "$out" >/dev/null || return 1
	echo "$out/$name-$version.tgz"
}

start_static() {
	local name=$1 mode=${2:-} pf="$T_DIR/static-$1.port" auth="" user=""
	mkdir -p "$T_DIR/www-$name" "$T_DIR/nginx-$name/tmp"
	if [ -f "$pf" ]; then
		STATIC_PORT=$(cat "$pf")
	else
		STATIC_PORT=$(free_port)
		echo "$STATIC_PORT" >"$pf"
	fi
	if [ "$mode" = auth ]; then
		if [ ! -f "$T_DIR/static-$name.htpasswd" ]; then
			htpasswd -Bbn "$STATIC_USER" "$STATIC_PASSWORD" 2>/dev/null |
			    grep -v '^$' >"$T_DIR/static-$name.htpasswd" || return 1
		fi
		auth="auth_basic \"depot-test-$name\";
		auth_basic_user_file $T_DIR/static-$name.htpasswd;"
	fi
	# Run as root, nginx would switch its workers to a user that cannot
	# enter the test directory.
	[ "$(id -u)" = 0 ] && user="user root;"
	cat >"$T_DIR/nginx-$name.conf" <<EOC
$user
worker_processes 1;
error_log $T_DIR/static-$name.error;
events { worker_connections 64; }
http {
	log_format depot_test '\$request_method \$uri \$status \$remote_user '
	    '\$t_auth \$t_inm \$t_ims';
	map \$http_authorization \$t_auth { "" no; default yes; }
	map \$http_if_none_match \$t_inm { "" -; default yes; }
	map \$http_if_modified_since \$t_ims { "" -; default yes; }
	access_log $T_DIR/static-$name.access depot_test;
	client_body_temp_path $T_DIR/nginx-$name/tmp/body;
	proxy_temp_path $T_DIR/nginx-$name/tmp/proxy;
	fastcgi_temp_path $T_DIR/nginx-$name/tmp/fastcgi;
	uwsgi_temp_path $T_DIR/nginx-$name/tmp/uwsgi;
	scgi_temp_path $T_DIR/nginx-$name/tmp/scgi;
	types {
		text/yaml yaml;
		application/gzip tgz;
	}
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$STATIC_PORT;
		root $T_DIR/www-$name;
		$auth
	}
}
EOC
	nginx -p "$T_DIR/nginx-$name/" -e "$T_DIR/static-$name.error" \
	    -c "$T_DIR/nginx-$name.conf" \
	    -g "daemon off; pid $T_DIR/nginx-$name.pid;" \
	    </dev/null >>"$T_DIR/static-$name.log" 2>&1 &
	echo $! >"$T_DIR/static-$name.pid"
	T_PIDS="$T_PIDS $!"
	# Any answer (401 included) means it listens.
	if ! t_wait_alive "$!" static_up "$STATIC_PORT"; then
		echo "# nginx $name did not start:"
		tail -n 5 "$T_DIR/static-$name.error" "$T_DIR/static-$name.log" 2>/dev/null |
		    sed 's/^/#   /'
		return 1
	fi
	return 0
}

static_up() {
	[ "$(http_status "http://127.0.0.1:$1/" --max-time 5)" != 000 ]
}

stop_static() {
	local pid
	[ -f "$T_DIR/static-$1.pid" ] || return 0
	pid=$(cat "$T_DIR/static-$1.pid")
	rm -f "$T_DIR/static-$1.pid"
	kill -TERM "$pid" 2>/dev/null
	t_wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null
	t_wait_gone "$pid" 50
	wait "$pid" 2>/dev/null
	# shellcheck disable=SC2086
	T_PIDS=$(printf ' %s ' $T_PIDS | sed "s/ $pid / /g")
	return 0
}

static_count() {
	local log="$T_DIR/static-$1.access"
	[ -f "$log" ] || { echo 0; return 0; }
	S_RE=$2 S_STATUS=${3:-} awk '
	$2 ~ ENVIRON["S_RE"] && (ENVIRON["S_STATUS"] == "" || $3 == ENVIRON["S_STATUS"]) { n++ }
	END { print n + 0 }' "$log"
}

index_check() {
	local f=$1 rc
	shift
	"$HELM_PY" "$HELM_INDEX" check "$f" "$@" 2>"$T_DIR/index_check.err"
	rc=$?
	sed 's/^/#   /' "$T_DIR/index_check.err" >&2
	return $rc
}

sha256() {
	sha256sum "$1" | cut -d ' ' -f 1
}

vm_hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

vm_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# helm_conf FILE PORT SERVER_EXTRA REST: a config like write_conf's, with
# no registries of its own: REST holds the registries (and upstreams,
# auth) of the test.
helm_conf() {
	cat >"$1" <<EOC
server = {
  listen = [ "127.0.0.1:$2" ];
  workers = 2;
  pidfile = "$T_DIR/depotd-$2.pid";
  data_dir = "$T_DIR/data-$2";
  log = { syslog = false; level = "debug"; access_log = "$T_DIR/access-$2.log"; };
  $3
};
$4
EOC
}

# forget_pid PID: take a pid out of T_PIDS (it was stopped already).
forget_pid() {
	# shellcheck disable=SC2086
	T_PIDS=$(printf ' %s ' $T_PIDS | sed "s/ $1 / /g")
}

# alive PID: "yes" while the process runs, else "no".
alive() {
	if kill -0 "$1" 2>/dev/null; then echo yes; else echo no; fi
}

# run_setup CONF NAME USER PASSWORD CHART VERSION: run every command line
# `depotctl setup-client NAME` prints, as a user pastes them, with the
# placeholders filled in: CHART and VERSION (a chart the repository has)
# for `helm install` (which needs a cluster, so it runs as `helm template`
# with the same arguments), $T_DIR/charts/setup-0.1.0.tgz for the upload
# and delete lines. The password goes to stdin (--password-stdin) and to
# curl's -u. Prints each line run as "# $ LINE"; fails on the first line
# that fails, or when fewer than 3 lines were printed. The output of
# setup-client is in $T_DIR/setup-NAME.out.
run_setup() {
	local conf=$1 name=$2 user=$3 pw=$4 chart=$5 version=$6 line n=0
	if ! "$DEPOTCTL" -c "$conf" setup-client "$name" >"$T_DIR/setup-$name.out" 2>&1; then
		echo "#   depotctl setup-client $name failed:"
		sed 's/^/#   /' "$T_DIR/setup-$name.out" | head -n 10
		return 1
	fi
	grep -v '^#' "$T_DIR/setup-$name.out" | grep -v '^[[:space:]]*$' >"$T_DIR/setup-$name.lines"
	while read -r line; do
		case $line in
		"helm install "*)
			line=$(printf '%s\n' "$line" | sed -e 's/^helm install /helm template /' \
			    -e 's/RELEASE/rel/' -e "s|/CHART|/$chart|" -e "s/VERSION/$version/") ;;
		*)
			line=$(printf '%s\n' "$line" | sed -e "s/CHART-VERSION/setup-0.1.0/g" \
			    -e 's|CHART/VERSION|setup/0.1.0|g') ;;
		esac
		line=$(printf '%s\n' "$line" | sed -e "s/-u USER/-u $user:$pw/g" -e "s/USER/$user/g")
		echo "# \$ $line"
		n=$((n + 1))
		(cd "$T_DIR/charts" && printf '%s\n' "$pw" | PATH=$PATH sh -c "$line") \
		    >"$T_DIR/setup-$name-$n.out" 2>&1 || {
			echo "#   failed:"
			sed 's/^/#   /' "$T_DIR/setup-$name-$n.out" | head -n 10
			return 1
		}
	done <"$T_DIR/setup-$name.lines"
	[ "$n" -ge 3 ]
}

# helm_reads FILE: helm's own index loader (`helm repo index --merge`)
# accepts FILE and keeps every chart version of it (helm drops entries it
# finds invalid, with a warning).
helm_reads() {
	local d n1
	d=$(mktemp -d "$T_DIR/helmreads.XXXXXX") || return 1
	if ! hm repo index "$d" --merge "$1" >"$d.out" 2>&1 ||
	    grep -Ei 'skip|invalid|warn' "$d.out"; then
		cat "$d.out"
		rm -rf "$d" "$d.out"
		return 1
	fi
	"$HELM_PY" "$HELM_INDEX" same-count "$1" "$d/index.yaml" 2>&1
	n1=$?
	rm -rf "$d" "$d.out"
	return $n1
}

# index_valid FILE [ARGS]: index_check FILE ARGS and helm_reads FILE.
index_valid() {
	index_check "$@" >/dev/null && helm_reads "$1"
}
