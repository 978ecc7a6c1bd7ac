#!/bin/sh
# nginx.sh: the shipped nginx example (etc/nginx/depot.conf) terminates
# TLS in front of depotd: /v2/ answers through it, large bodies are not
# refused by nginx, plain HTTP redirects, depotd hands out upload
# locations that point back through the proxy, and blobs pushed and
# pulled through it (2 MB in one PUT; 100 MB as POST, one streamed PATCH
# and PUT ?digest=) keep their digests.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

for c in nginx openssl; do
	command -v "$c" >/dev/null 2>&1 ||
	    skip_all "$c is not installed (scripts/deps package installs it)"
done
command -v curl >/dev/null || skip_all "curl is not installed (scripts/test installs it)"

port=$(free_port)
# nginx reaches depotd from 127.0.0.1: trust its X-Forwarded-* headers.
write_conf "$T_DIR/depot.conf" "$port" 'trusted_proxies = [ "127.0.0.1" ];'
start_depotd "$T_DIR/depot.conf" "$port" || bail "depotd did not start"

# A self-signed certificate for 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" >"$T_DIR/openssl.log" 2>&1 ||
    bail "openssl could not make a certificate"

# The example, moved onto loopback ports and files of this test: the
# HTTP and HTTPS listeners, the depotd address, certificate and logs.
nport=$(free_port)
hport=$(free_port)
sed -e "s|server 127\.0\.0\.1:5000;|server 127.0.0.1:$port;|" \
    -e "s|^\([[:space:]]*\)listen 443 ssl|\1listen 127.0.0.1:$nport ssl|" \
    -e "s|^\([[:space:]]*\)listen 80;|\1listen 127.0.0.1:$hport;|" \
    -e '/listen \[::\]/d' \
    -e "s|ssl_certificate .*|ssl_certificate $T_DIR/cert.pem;|" \
    -e "s|ssl_certificate_key .*|ssl_certificate_key $T_DIR/key.pem;|" \
    -e "s|access_log .*|access_log $T_DIR/nginx-access.log;|" \
    -e "s|error_log .*|error_log $T_DIR/nginx-error.log;|" \
    "$DEPOT_SRCDIR/etc/nginx/depot.conf" >"$T_DIR/site.conf"
like "$(grep -c "127.0.0.1:$nport ssl\|127.0.0.1:$hport;\|127.0.0.1:$port;" "$T_DIR/site.conf")" \
    '^3$' "the example's listeners and upstream were found and moved"

mkdir -p "$T_DIR/nginx/logs" "$T_DIR/nginx/tmp"
# Run as root, nginx would switch its workers to a user that cannot
# enter the test directory.
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
	include $T_DIR/site.conf;
}
EOC
check "nginx accepts the example configuration" \
    nginx -t -p "$T_DIR/nginx/" -e "$T_DIR/nginx-error.log" \
    -c "$T_DIR/nginx.conf" -g "pid $T_DIR/nginx.pid;"
# nginx itself, not a subshell, is the background job, so that the
# cleanup stops it by its pid.
nginx -p "$T_DIR/nginx/" -e "$T_DIR/nginx-error.log" -c "$T_DIR/nginx.conf" \
    -g "daemon off; pid $T_DIR/nginx.pid;" >"$T_DIR/nginx.log" 2>&1 &
T_PIDS="$T_PIDS $!"
base="https://127.0.0.1:$nport"
i=0
while ! curl -s -o /dev/null --cacert "$T_DIR/cert.pem" "$base/healthz"; do
	[ "$i" -ge 600 ] && bail "nginx did not start (see nginx-error.log)"
	sleep 0.1
	i=$((i + 1))
done

# curl speaks HTTP/2 to nginx, where header names are lower case.
out=$(curl -s -i --cacert "$T_DIR/cert.pem" "$base/v2/" | tr 'A-Z' 'a-z')
like "$out" "^http/[0-9.]+ 200" "GET /v2/ through nginx over TLS answers 200"
like "$out" "docker-distribution-api-version: registry/2.0" \
    "the API version header passes through nginx"
is "$(curl -s --cacert "$T_DIR/cert.pem" "$base/healthz")" ok \
    "/healthz answers through nginx"

out=$(curl -s -i "http://127.0.0.1:$hport/v2/")
like "$out" "^HTTP/[0-9.]+ 301" "plain HTTP is redirected"
like "$out" "Location: https://127\.0\.0\.1/v2/" "the redirect goes to https"

# nginx's default limit is 1 MB: the example lifts it, so a large body
# reaches depotd (which refuses POST /v2/ with its own 405).
head -c 3000000 /dev/zero >"$T_DIR/big"
is "$(http_status "$base/v2/" --cacert "$T_DIR/cert.pem" -X POST --max-time 20 \
    -H "Content-Type: application/octet-stream" --data-binary "@$T_DIR/big")" \
    405 "a 3 MB body is passed to depotd, not refused by nginx"

# The upload location must point back through the proxy (scheme, host
# and port from X-Forwarded-Proto and X-Forwarded-Host).
out=$(curl -s -i --cacert "$T_DIR/cert.pem" -X POST "$base/v2/docker-local/x/blobs/uploads/")
if printf '%s\n' "$out" | grep -q '^HTTP/[0-9.]* 405' &&
    printf '%s\n' "$out" | grep -q '"UNSUPPORTED"'; then
	skip "blob uploads are not implemented yet (POST answers 405 UNSUPPORTED)"
else
	like "$out" "^HTTP/[0-9.]+ 202" "an upload POST through nginx answers 202"
	loc=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	like "$loc" "^https://127\.0\.0\.1:$nport/v2/docker-local/x/blobs/uploads/" \
	    "the upload Location points back through nginx (https, host and port)"

	# Finish the upload with a 2 MB blob streamed through nginx, and
	# pull it back the same way.
	head -c 2000000 /dev/urandom >"$T_DIR/blob"
	digest="sha256:$(sha256sum "$T_DIR/blob" | cut -d ' ' -f 1)"
	case $loc in
	*\?*) put="$loc&digest=$digest" ;;
	*) put="$loc?digest=$digest" ;;
	esac
	is "$(http_status "$put" --cacert "$T_DIR/cert.pem" -X PUT --max-time 30 \
	    -H "Content-Type: application/octet-stream" --data-binary "@$T_DIR/blob")" \
	    201 "a 2 MB blob is pushed through nginx"
	got=$(curl -s --max-time 30 --cacert "$T_DIR/cert.pem" \
	    "$base/v2/docker-local/x/blobs/$digest" | sha256sum | cut -d ' ' -f 1)
	is "sha256:$got" "$digest" "the blob pulled through nginx has its digest"

	# 100 MB: POST, one streamed PATCH with the whole body, then PUT
	# ?digest= without one; every Location points back through nginx.
	head -c 100M /dev/urandom >"$T_DIR/big100"
	big="sha256:$(sha256sum "$T_DIR/big100" | cut -d ' ' -f 1)"
	tls="--cacert $T_DIR/cert.pem"
	pat="^https://127\.0\.0\.1:$nport/v2/docker-local/big/blobs/"
	code=$(curl -s $tls --max-time 20 -X POST -D "$T_DIR/h1" -o /dev/null \
	    -w '%{http_code}' "$base/v2/docker-local/big/blobs/uploads/")
	loc=$(tr -d '\r' <"$T_DIR/h1" | sed -n 's/^[Ll]ocation: //p')
	is "$code" 202 "100 MB: POST starts an upload through nginx"
	like "$loc" "${pat}uploads/" "100 MB: the POST Location is https://127.0.0.1:$nport/..."
	code=$(curl -s $tls --max-time 180 -X PATCH -D "$T_DIR/h2" -o /dev/null \
	    -w '%{http_code}' -H "Content-Type: application/octet-stream" \
	    -T "$T_DIR/big100" "$loc")
	is "$code" 202 "100 MB: one streamed PATCH through nginx answers 202"
	is "$(tr -d '\r' <"$T_DIR/h2" | sed -n 's/^[Rr]ange: //p')" "0-104857599" \
	    "100 MB: depotd received every byte (Range 0-104857599)"
	loc=$(tr -d '\r' <"$T_DIR/h2" | sed -n 's/^[Ll]ocation: //p')
	like "$loc" "${pat}uploads/" "100 MB: the PATCH Location is https://127.0.0.1:$nport/..."
	case $loc in
	*\?*) put="$loc&digest=$big" ;;
	*) put="$loc?digest=$big" ;;
	esac
	code=$(curl -s $tls --max-time 180 -X PUT -D "$T_DIR/h3" -o /dev/null \
	    -w '%{http_code}' -H "Content-Type: application/octet-stream" \
	    --data-binary '' "$put")
	is "$code" 201 "100 MB: PUT ?digest= completes the upload"
	like "$(tr -d '\r' <"$T_DIR/h3" | sed -n 's/^[Ll]ocation: //p')" "${pat}$big\$" \
	    "100 MB: the blob's Location is https://127.0.0.1:$nport/..."
	got=$(curl -s $tls --max-time 180 "$base/v2/docker-local/big/blobs/$big" |
	    sha256sum | cut -d ' ' -f 1)
	is "sha256:$got" "$big" "100 MB: the blob pulled back through nginx has its digest"
	rm -f "$T_DIR/big100"
fi

like "$(cat "$T_DIR/access-$port.log")" '"GET /v2/' "depotd logged the proxied requests"
