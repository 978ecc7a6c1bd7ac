#!/bin/sh
# console.sh: the web console under /ui/. Its files come with caching
# headers (ETag, Last-Modified, 304) and a strict Content-Security-Policy;
# only plain file names are served. Headless Chromium loads each page
# (the registries, a registry with its upstreams and set-up panel, a
# helm registry with its own and its upstream's charts, a repository
# with a multi-arch image and a referrer, an upstream) against
# a depotd holding those images, and the rendered DOM shows the expected
# names and digests; what anonymous callers may not read is not shown;
# the console works through nginx and names the proxy's address, or the
# configured public_url. A
# screenshot of each page is left in the build tree (console-*.png).
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
	skip_all "chromium is not installed (scripts/deps test installs it)"
. "$DEPOT_SRCDIR/tests/regress/api_lib.sh"

# Anonymous callers read pub: the pushed image (with its referrer) and
# the multi-arch image are shown there.
push "$T_DIR/img-web" 1.0 pub/web:1.0
printf '{}' | curl -sf -o /dev/null -u "$ALICE" -X POST \
    -H 'Content-Type: application/octet-stream' --data-binary @- \
    "$base/v2/pub/web/blobs/uploads/?digest=$empty" || bail "empty blob upload failed"
st=$(curl -s -o /dev/null -w '%{http_code}' -u "$ALICE" -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$T_DIR/ref.json" "$base/v2/pub/web/manifests/$d_ref")
[ "$st" = 201 ] || bail "referrer push into pub: $st"
SHOTS=${CONSOLE_SHOTS:-$(pwd)}

# hdr NAME: a header of the last fetch.
hdr() {
	tr -d '\r' <"$T_DIR/headers" |
	    awk -v h="$1" 'tolower($0) ~ "^" h ":" { sub(/^[^:]*:[ \t]*/, ""); print }'
}
get() {
	curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' "$@"
}

# --- 1: the files and their headers
is "$(get "$base/ui/")" 200 "1: GET /ui/: 200"
like "$(hdr content-type)" '^text/html' "1: index.html as text/html"
csp=$(hdr content-security-policy)
like "$csp" "default-src 'none'" "1: a Content-Security-Policy that allows nothing by default"
like "$csp" "script-src 'self';" "1: ... scripts only from this origin (no inline script)"
like "$csp" "connect-src 'self'" "1: ... fetches only to this origin"
check "1: the page has no inline script or style" sh -c \
    "! grep -Eiq '<script>|<script [^>]*>[^<]|<style|style=|onclick=' '$T_DIR/body'"
etag=$(hdr etag)
lm=$(hdr last-modified)
like "$etag" '^"[0-9a-f-]+"$' "1: an ETag"
like "$lm" 'GMT$' "1: a Last-Modified"
is "$(hdr cache-control)" no-cache "1: Cache-Control: no-cache (revalidated with the ETag)"
is "$(get -H "If-None-Match: $etag" "$base/ui/")" 304 "1: If-None-Match with the ETag: 304"
is "$(get -H "If-Modified-Since: $lm" "$base/ui/")" 304 "1: If-Modified-Since: 304"
is "$(get -H "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT" "$base/ui/")" 200 \
    "1: If-Modified-Since before the file changed: 200"
is "$(get "$base/ui/app.js")" 200 "1: app.js: 200"
like "$(hdr content-type)" '^text/javascript' "1: ... as text/javascript"
is "$(get "$base/ui/style.css")" 200 "1: style.css: 200"
check "1: the script never inserts HTML" sh -c \
    "! grep -Eq 'innerHTML|outerHTML|insertAdjacentHTML|document\\.write' '$DEPOT_SRCDIR/share/ui/app.js'"
is "$(get -o /dev/null "$base/ui")" 301 "1: /ui redirects"
is "$(hdr location)" ui/ "1: ... to ui/ (relative: right behind a proxy)"
is "$(get "$base/ui/..%2fdepot.conf")" 404 "1: no path out of the folder"
is "$(get "$base/ui/.hidden.js")" 404 "1: no dot files"
is "$(get "$base/ui/nosuch.html")" 404 "1: an unknown file: 404"
is "$(get -X POST "$base/ui/")" 405 "1: POST: 405"

# pages NAME FRAGMENT ...: load /ui/#FRAGMENT (or FRAGMENT, a whole URL)
# of each page in headless
# Chromium, all at once (each mostly waits); the DOM of page NAME in
# $T_DIR/NAME.html, its screenshot in $SHOTS/console-NAME.png.
pages() {
	local pids="" pid
	while [ $# -ge 2 ]; do
		HOME=$T_DIR timeout 120 "$CHROMIUM" --headless --no-sandbox \
		    --disable-gpu --disable-dev-shm-usage --no-first-run \
		    --user-data-dir="$T_DIR/chromium-$1" --hide-scrollbars \
		    --virtual-time-budget=5000 --window-size=1280,900 \
		    --dump-dom --screenshot="$SHOTS/console-$1.png" \
		    "$(case $2 in http*) echo "$2" ;; *) echo "$base/ui/#$2" ;; esac)" \
		    >"$T_DIR/$1.html" 2>"$T_DIR/chromium-$1.err" &
		pid=$!
		T_PIDS="$T_PIDS $pid"
		pids="$pids $pid"
		shift 2
	done
	for pid in $pids; do
		wait "$pid"
	done
}

# dom NAME WANT DESC: pass when the rendered DOM of page NAME has WANT.
dom() {
	if grep -qF -- "$2" "$T_DIR/$1.html"; then
		ok "$3"
	else
		not_ok "$3"
		echo "#   lacks: '$2'"
		sed -n 's/.*<main id="main">//p' "$T_DIR/$1.html" | cut -c1-400 | sed 's/^/#   /'
	fi
}
nodom() {
	if grep -qF -- "$2" "$T_DIR/$1.html"; then
		not_ok "$3"
		echo "#   has: '$2'"
	else
		ok "$3"
	fi
}

# A plain nginx in front of depotd (which trusts 127.0.0.1, the default
# of trusted_proxies): the console is loaded through it too.
nbase=""
if command -v nginx >/dev/null 2>&1; then
	nport=$(free_port)
	mkdir -p "$T_DIR/nginx/tmp"
	[ "$(id -u)" = 0 ] && nuser="user root;" || nuser=""
	cat >"$T_DIR/nginx.conf" <<EOC
$nuser
worker_processes 1;
error_log $T_DIR/nginx-error.log;
events { worker_connections 64; }
http {
	access_log $T_DIR/nginx-access.log;
	client_body_temp_path $T_DIR/nginx/tmp/body;
	proxy_temp_path $T_DIR/nginx/tmp/proxy;
	fastcgi_temp_path $T_DIR/nginx/tmp/fastcgi;
	uwsgi_temp_path $T_DIR/nginx/tmp/uwsgi;
	scgi_temp_path $T_DIR/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$nport;
		location / {
			proxy_pass http://$reg;
			proxy_http_version 1.1;
			proxy_set_header Host \$host:\$server_port;
			proxy_set_header X-Forwarded-Host \$host:\$server_port;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
}
EOC
	nginx -p "$T_DIR/nginx/" -e "$T_DIR/nginx-error.log" -c "$T_DIR/nginx.conf" \
	    -g "daemon off; pid $T_DIR/nginx.pid;" >"$T_DIR/nginx.log" 2>&1 &
	T_PIDS="$T_PIDS $!"
	nbase="http://127.0.0.1:$nport"
	t_wait_for curl -sf -o /dev/null "$nbase/healthz" || bail "nginx did not start"
fi

# --- 2..5: every page at once
pages landing / registry /r/pub multi /r/pub/repo/multi web /r/pub/repo/web \
    upstream /u/charts-up charts /r/charts ${nbase:+proxied "$nbase/ui/#/r/pub"}

# --- 2: the registries
dom landing 'data-ready="yes"' "2: the landing page rendered"
dom landing 'data-registry="pub"' "2: it lists pub"
dom landing 'public images' "2: ... with its description"
dom landing '<span class="label">public</span>' "2: ... and its label"
dom landing 'data-registry="charts"' "2: it lists the helm registry"
dom landing 'charts-up' "2: ... with its upstream"
dom landing '1 chart, 1 version hosted' "2: ... and its hosted charts"
nodom landing 'data-registry="apps"' "2: not alice's registry (anonymous)"
nodom landing 'team images' "2: nor its description"
dom landing 'Anonymous' "2: it says nobody is signed in"
check "2: a screenshot of the landing page" test -s "$SHOTS/console-landing.png"

# --- 3: a helm registry: its charts and helm's set-up lines
dom charts 'data-chart="okchart"' "3: the helm registry's page lists okchart"
dom charts 'data-version="0.1.0"' "3: ... with its version"
dom charts 'data-chart="upchart"' "3: ... and upchart, a chart of its upstream"
dom charts 'data-version="2.0.0"' "3: ... with the upstream's versions"
dom charts '<span class="chip source">charts-up</span>' "3: ... saying where they come from"
dom charts 'class="chip version hosted cached"' "3: the hosted version is marked as stored"
dom charts 'Upstream chart 2.0.0' "3: an upstream chart's description"
check "3: a screenshot of the helm registry page" test -s "$SHOTS/console-charts.png"
dom charts "helm repo add" "3: ... and the helm set-up lines"

# --- 3: a registry
dom registry 'data-repository="pub/multi"' "3: pub's page lists pub/multi"
dom registry 'data-repository="pub/web"' "3: ... and pub/web"
dom registry 'id="search"' "3: a search box"
dom registry "docker pull $reg/pub/IMAGE:TAG" "3: the set-up panel's pull command, with this address"
dom registry 'class="copy"' "3: ... with copy buttons"
dom registry "skopeo" "3: ... skopeo too"
check "3: a screenshot of the registry page" test -s "$SHOTS/console-registry.png"

# --- 4: a repository
dom multi "$d_multi" "4: the multi-arch tag's digest (the index)"
dom multi 'linux/amd64' "4: its architectures: amd64"
dom multi 'linux/arm64' "4: ... and arm64"
dom multi 'data-tag="1"' "4: its tag"
dom web "$d_web1" "4: pub/web's digest"
dom web 'application/vnd.example.signature' "4: its referrer"
dom web 'KiB' "4: its size"
check "4: a screenshot of the repository page" test -s "$SHOTS/console-web.png"

# --- 5: an upstream
dom upstream "$CHARTS_UP" "5: the upstream's URL"
dom upstream 'Cache hits' "5: its cache statistics"
dom upstream 'class="state-ok"' "5: its health"
check "5: a screenshot of the upstream page" test -s "$SHOTS/console-upstream.png"

# --- 6: behind nginx
if [ -n "$nbase" ]; then
	is "$(get "$nbase/ui/")" 200 "6: /ui/ through nginx: 200"
	like "$(hdr content-security-policy)" "default-src 'none'" "6: ... with its Content-Security-Policy"
	dom proxied 'data-repository="pub/multi"' "6: the console works through nginx (same-origin fetches)"
	dom proxied "docker pull 127.0.0.1:$nport/pub/IMAGE:TAG" \
	    "6: its set-up lines name the proxy's address, not depotd's"
else
	skip "6: behind nginx: nginx is not installed (scripts/deps package installs it)"
fi

# --- 7: the console's files are the files in ui_dir, never what a
# symbolic link there points at
mkdir -p "$T_DIR/ui"
cp "$DEPOT_SRCDIR"/share/ui/* "$T_DIR/ui/"
echo "not for the web" >"$T_DIR/outside.txt"
ln -s "$T_DIR/outside.txt" "$T_DIR/ui/leak.js"
uport=$(free_port)
write_conf "$T_DIR/ui.conf" "$uport" "ui_dir = \"$T_DIR/ui\"; public_url = \"https://depot.example.com/\";"
start_depotd "$T_DIR/ui.conf" "$uport" || bail "the second depotd did not start"
is "$(get "http://127.0.0.1:$uport/ui/app.js")" 200 "7: a file in ui_dir: 200"
is "$(get "http://127.0.0.1:$uport/ui/leak.js")" 404 "7: a symbolic link in ui_dir: 404"
nodom_file() { ! grep -q "not for the web" "$T_DIR/body"; }
check "7: ... and not the linked file's bytes" nodom_file

# --- 8: with server.public_url (a proxy that forwards no address), the
# console's set-up panel names the public address
is "$(get "http://127.0.0.1:$uport/api/v1/registries/docker-local/setup")" 200 \
    "8: the set-up of a depotd with a public_url: 200"
is "$(jq -r .base_url "$T_DIR/body")" https://depot.example.com "8: ... names the public URL"
like "$(jq -r '.sections[] | select(.title == "Pull") | .commands[0]' "$T_DIR/body")" \
    '^docker pull depot\.example\.com/docker-local/IMAGE:TAG$' "8: ... in its pull command"
