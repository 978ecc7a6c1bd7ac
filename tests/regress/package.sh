#!/bin/sh
# package.sh: the Debian package builds from the distributed sources,
# installs (user, folders, conffile, init script, unit), runs depotd as a
# System V service (start, reload, a refused reload, logrotate, status,
# restart, stop) and a purge removes the data and the user; `make rpm`
# builds an RPM with the daemon, the man pages and the configuration.
# Installs a system package: runs only as root, one at a time, and never
# over a depot package or user that was there before.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (installs the package with dpkg)"
case ${DEPOT_BUILDDIR:-} in
*/_build/sub)
	skip_all "inside make distcheck, which must not install system packages" ;;
esac
[ -f "${DEPOT_BUILDDIR:-}/Makefile" ] || skip_all "DEPOT_BUILDDIR is not a configured build tree"
# The packages are built from the distributed sources with the
# distribution's flags, never with this tree's: in a sanitizer build this
# script would build and check the very packages of a plain build again.
grep -q '^SANITIZER_CFLAGS = *-fsanitize' "$DEPOT_BUILDDIR/Makefile" &&
    skip_all "a sanitizer build: the packages do not use its flags (make check in a plain build runs this)"
for c in dpkg-buildpackage dpkg-checkbuilddeps dh curl python3 flock; do
	command -v "$c" >/dev/null 2>&1 ||
	    skip_all "$c is not installed (scripts/deps package installs it)"
done

# One package test at a time on this machine (several build trees may
# run make check at once).
lockdir=/run/lock
[ -d "$lockdir" ] || lockdir=/tmp
exec 9>"$lockdir/depot-package-test.lock"
flock -w 1200 9 || skip_all "another package test held the lock for 20 minutes"

case $(dpkg-query -W -f='${db:Status-Abbrev}' depot 2>/dev/null) in
""|un*|pn*) ;;
*) skip_all "a depot package is already installed here; not touching it" ;;
esac
getent passwd depot >/dev/null &&
    skip_all "a user depot already exists; the purge test would remove it"

installed=0
made_policy=0
# installed_pids: processes running the packaged depotd.
installed_pids() {
	for d in /proc/[0-9]*; do
		case $(readlink "$d/exe" 2>/dev/null) in
		/usr/sbin/depotd|"/usr/sbin/depotd (deleted)") echo "${d#/proc/}" ;;
		esac
	done
}
# Whatever happens, leave no package, daemon or policy file behind.
pkg_cleanup() {
	if [ "$installed" = 1 ]; then
		/etc/init.d/depot stop >/dev/null 2>&1
		for p in $(installed_pids); do
			kill -KILL "$p" 2>/dev/null
		done
		dpkg --purge depot >/dev/null 2>&1 || echo "# dpkg --purge depot failed"
	fi
	[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
}
trap 'pkg_cleanup; t_cleanup' EXIT
trap 'exit 1' INT TERM HUP

# Builds run without the jobserver of the make that runs this test.
build_env() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$@"
}

# --- build the .deb from a copy of the distributed sources
src="$T_DIR/src"
build_env make -C "$DEPOT_BUILDDIR" distdir distdir="$src" \
    >"$T_DIR/distdir.log" 2>&1 || bail "make distdir failed"
if ! (cd "$src" && dpkg-checkbuilddeps) >"$T_DIR/builddeps.out" 2>&1; then
	skip_all "build dependencies missing: $(tail -n 1 "$T_DIR/builddeps.out")"
fi
(cd "$src" && build_env DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    dpkg-buildpackage -us -uc -b) >"$T_DIR/deb-build.log" 2>&1
is "$?" 0 "dpkg-buildpackage -us -uc -b succeeds"
deb=$(ls "$T_DIR"/depot_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] || bail "no depot_*.deb was built"
ok "built $(basename "$deb")"

# --- install; the service must not start on its default port here
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\n# package.sh: no service starts while it runs.\nexit 101\n' \
	    >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_policy=1
fi
installed=1
dpkg -i "$deb" >"$T_DIR/dpkg-install.log" 2>&1
is "$?" 0 "dpkg -i installs the package"
is "$(dpkg-query -W -f='${db:Status-Abbrev}' depot)" "ii " "the package is installed and configured"
like "$(getent passwd depot)" '^depot:x:[0-9]+:[0-9]+:.*:/var/lib/depot:/usr/sbin/nologin$' \
    "postinst made the system user depot (home /var/lib/depot, no login)"
uid=$(id -u depot 2>/dev/null)
check "depot is a system user (uid below 1000)" test "${uid:-1000}" -lt 1000
check "postinst made the group depot" getent group depot
is "$(stat -c '%U:%G %a' /var/lib/depot 2>&1)" "depot:depot 750" "/var/lib/depot is depot's, mode 0750"
is "$(stat -c '%U:%G %a' /var/log/depot 2>&1)" "depot:adm 750" "/var/log/depot is depot's, group adm, mode 0750"
like "$(dpkg-query -W -f='${Conffiles}' depot)" ' /etc/depot/depot\.conf ' "depot.conf is a conffile"
check "/etc/depot/depot.d exists" test -d /etc/depot/depot.d
check "the init script is installed" test -x /etc/init.d/depot
check "the init script is registered in the runlevels" sh -c 'ls /etc/rc2.d/S*depot'
check "the systemd unit is installed" test -f /lib/systemd/system/depot.service
check "the logrotate file is installed" test -f /etc/logrotate.d/depot
is "$(/usr/sbin/depotd -t 2>&1)" "configuration OK" \
    "the packaged configuration passes depotd -t at its default path"

# --- the init script
port=$(free_port)
base="http://127.0.0.1:$port"
sed -i -e "s/127\.0\.0\.1:5000/127.0.0.1:$port/" -e 's/^\( *workers *=\) *0;/\1 2;/' \
    /etc/depot/depot.conf
cp /etc/depot/depot.conf "$T_DIR/depot.conf.good"

echo 'bogus = 1;' >>/etc/depot/depot.conf
/etc/init.d/depot start 9>&- >"$T_DIR/start-bad.out" 2>&1
is "$?" 6 "start refuses a broken configuration (LSB 6)"
like "$(cat "$T_DIR/start-bad.out")" "depot.conf:[0-9]+: .*bogus" "start shows the configuration error"
is "$(installed_pids)" "" "nothing runs after a refused start"
cp "$T_DIR/depot.conf.good" /etc/depot/depot.conf

/etc/init.d/depot start 9>&- >"$T_DIR/start.out" 2>&1
is "$?" 0 "/etc/init.d/depot start exits 0"
is "$(http_status "$base/v2/")" 200 "GET /v2/ answers 200 once start returns"
pid=$(cat /run/depot/depotd.pid 2>/dev/null)
like "$pid" '^[0-9]+$' "the pid file /run/depot/depotd.pid names the master"
is "$(ps -o user= -p "${pid:-0}" 2>/dev/null | tr -d ' ')" root "the master runs as root"
is "$(ps -o user= --ppid "${pid:-0}" 2>/dev/null | sort -u | tr -d ' ')" depot \
    "the workers run as depot"
/etc/init.d/depot start 9>&- >/dev/null 2>&1
is "$?" 0 "start while running exits 0"
is "$(cat /run/depot/depotd.pid 2>/dev/null)" "$pid" "start while running keeps the same master"

t_wait_grep '"GET /v2/' /var/log/depot/access.log
like "$(cat /var/log/depot/access.log 2>&1)" '"GET /v2/' "the access log in /var/log/depot has the request"

/etc/init.d/depot reload >"$T_DIR/reload.out" 2>&1
is "$?" 0 "reload exits 0"
like "$(cat /run/depot/depotd.pid.status 2>&1)" "result ok" "the master reports the reload accepted"
is "$(http_status "$base/v2/")" 200 "still serving after reload"
is "$(cat /run/depot/depotd.pid 2>/dev/null)" "$pid" "reload keeps the master"

echo 'bogus = 1;' >>/etc/depot/depot.conf
/etc/init.d/depot reload >"$T_DIR/reload-bad.out" 2>&1
rc=$?
check "reload of a broken configuration fails" test "$rc" -ne 0
like "$(cat "$T_DIR/reload-bad.out")" "bogus" "reload shows the configuration error"
/etc/init.d/depot restart 9>&- >/dev/null 2>&1
check "restart refuses a broken configuration" test "$?" -ne 0
is "$(http_status "$base/v2/")" 200 "the running daemon keeps serving"
is "$(cat /run/depot/depotd.pid 2>/dev/null)" "$pid" "and was not restarted"
cp "$T_DIR/depot.conf.good" /etc/depot/depot.conf

if command -v logrotate >/dev/null 2>&1; then
	logrotate -f -s "$T_DIR/logrotate.state" /etc/logrotate.d/depot \
	    >"$T_DIR/logrotate.log" 2>&1
	is "$?" 0 "logrotate rotates the access log"
	i=0
	while :; do
		curl -s -o /dev/null "$base/healthz?after-rotate"
		grep -q 'after-rotate' /var/log/depot/access.log 2>/dev/null && break
		[ "$i" -ge 600 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	like "$(cat /var/log/depot/access.log 2>&1)" 'after-rotate' \
	    "after postrotate (SIGUSR1) depotd writes the new access.log"
	check "the old log was kept as access.log.1" test -f /var/log/depot/access.log.1
else
	skip "logrotate is not installed (scripts/deps package installs it)"
fi

/etc/init.d/depot status >/dev/null 2>&1
is "$?" 0 "status exits 0 while running"

/etc/init.d/depot restart 9>&- >"$T_DIR/restart.out" 2>&1
is "$?" 0 "restart exits 0"
new=$(cat /run/depot/depotd.pid 2>/dev/null)
check "restart starts a new master" test -n "$new" -a "$new" != "$pid"
is "$(http_status "$base/v2/")" 200 "serving after restart"

/etc/init.d/depot stop >"$T_DIR/stop.out" 2>&1
is "$?" 0 "stop exits 0"
/etc/init.d/depot status >/dev/null 2>&1
is "$?" 3 "status exits 3 once stopped"
is "$(installed_pids)" "" "no depotd process is left"
check "the pid file is removed" test ! -e /run/depot/depotd.pid
is "$(http_status "$base/v2/")" 000 "nothing listens after stop"
/etc/init.d/depot stop >/dev/null 2>&1
is "$?" 0 "stop when stopped exits 0"

# --- purge
dpkg --purge depot >"$T_DIR/dpkg-purge.log" 2>&1
is "$?" 0 "dpkg --purge depot succeeds"
installed=0
check "purge removes /var/lib/depot" test ! -e /var/lib/depot
check "purge removes /var/log/depot" test ! -e /var/log/depot
check "purge removes /etc/depot" test ! -e /etc/depot
check "purge removes the user depot" sh -c '! getent passwd depot'
check "purge removes the group depot" sh -c '! getent group depot'

# --- the RPM, from the same (now configured) copy
if command -v rpmbuild >/dev/null 2>&1 && command -v rpm >/dev/null 2>&1; then
	build_env make -C "$src" rpm >"$T_DIR/rpm-build.log" 2>&1
	is "$?" 0 "make rpm succeeds"
	rpmfile=$(find "$src/rpmbuild/RPMS" -name 'depot-[0-9]*.rpm' 2>/dev/null | head -n 1)
	files=$(rpm -qlp "$rpmfile" 2>&1)
	like "$files" '^/usr/sbin/depotd$' "the RPM holds /usr/sbin/depotd"
	like "$files" '^/usr/share/man/man8/depotd\.8' "the RPM holds depotd(8)"
	like "$files" '^/usr/share/man/man5/depot\.conf\.5' "the RPM holds depot.conf(5)"
	like "$files" '^/usr/lib/systemd/system/depot\.service$' "the RPM holds the systemd unit"
	like "$files" '^/etc/logrotate\.d/depot$' "the RPM holds the logrotate file"
	like "$(rpm -qp --configfiles "$rpmfile" 2>&1)" '^/etc/depot/depot\.conf$' \
	    "depot.conf is an RPM config file"
else
	skip "rpmbuild is not installed (scripts/deps package installs rpm)"
fi
