#!/bin/sh
# api.sh: the read-only JSON API under /api/v1: every endpoint, paging of
# repositories and tags, what each caller sees (anonymous, alice, bob, a
# Bearer token from /token, wrong credentials), 401 with the /v2/
# challenge and 404 that reveal nothing, errors as JSON, tags with
# digests, sizes, platforms of a multi-arch image and referrers, upstream
# health after a failure, the set-up instructions being those of
# `depotctl setup-client`, and no configured secret in any answer.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
. "$DEPOT_SRCDIR/tests/regress/api_lib.sh"

: >"$T_DIR/answers"

# api PATH [CURL_ARGS]: GET $base/api/v1PATH; prints the status. The body
# is in $T_DIR/body (and added to $T_DIR/answers), headers in
# $T_DIR/headers.
api() {
	local path=$1 st
	shift
	st=$(curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' \
	    "$@" "$base/api/v1$path")
	cat "$T_DIR/body" "$T_DIR/headers" >>"$T_DIR/answers"
	echo "$st"
}

# j FILTER: jq -r on the last body.
j() {
	jq -r "$1" "$T_DIR/body" 2>&1
}

header() {
	tr -d '\r' <"$T_DIR/headers" |
	    awk -v h="$1" 'tolower($0) ~ "^" h ":" { sub(/^[^:]*:[ \t]*/, ""); print }'
}

# --- 1: the root
is "$(api /)" 200 "1: GET /api/v1/ anonymously: 200"
is "$(j '.api + " " + (.auth|tostring) + " " + (.user|tostring)')" "v1 true null" \
    "1: it says access control is on, and nobody is signed in"
is "$(header content-type)" application/json "1: answers are application/json"
is "$(header cache-control)" no-store "1: answers are not cached"
api / -u "$ALICE" >/dev/null
is "$(j .user)" alice "1: with Basic credentials the user is named"

# --- 2: registries, filtered per caller
is "$(api /registries)" 200 "2: GET registries anonymously: 200"
is "$(j '[.registries[].name] | join(",")')" pub,charts \
    "2: anonymous sees the registries anonymous may read"
api /registries -u "$ALICE" >/dev/null
is "$(j '[.registries[].name] | join(",")')" apps,proxied,pub,team,charts \
    "2: alice sees every registry she may read, in configuration order"
api /registries -u "$BOB" >/dev/null
is "$(j '[.registries[].name] | join(",")')" pub,team,charts \
    "2: bob does not see alice's registry"
tok=$(curl -sf -u "$ALICE" "$base/token?service=depot" | jq -r .token)
api /registries -H "Authorization: Bearer $tok" >/dev/null
is "$(j '[.registries[].name] | join(",")')" apps,proxied,pub,team,charts \
    "2: a token from /token stands for its user"
# The console signs in as a form POST to /token, and renews with the
# refresh token.
curl -s -o "$T_DIR/login.json" -X POST --data-urlencode grant_type=password \
    --data-urlencode username=alice --data-urlencode password=alice-pw-5309 \
    --data-urlencode service=depot --data-urlencode client_id=depot-console \
    --data-urlencode access_type=offline "$base/token"
ctok=$(jq -r .token "$T_DIR/login.json")
api /registries -H "Authorization: Bearer $ctok" >/dev/null
is "$(j '[.registries[].name] | join(",")')" apps,proxied,pub,team,charts \
    "2: the console's sign-in (POST /token) gives a token for alice"
rtok=$(jq -r .refresh_token "$T_DIR/login.json")
curl -s -o "$T_DIR/refresh.json" -X POST --data-urlencode grant_type=refresh_token \
    --data-urlencode "refresh_token=$rtok" --data-urlencode service=depot \
    --data-urlencode client_id=depot-console "$base/token"
api / -H "Authorization: Bearer $(jq -r .token "$T_DIR/refresh.json")" >/dev/null
is "$(j .user)" alice "2: ... renewed with its refresh token"
is "$(api /registries -u alice:wrong-password)" 401 "2: wrong credentials: 401"
like "$(header www-authenticate)" '^Bearer realm="http://127\.0\.0\.1:[0-9]+/token",service="depot"$' \
    "2: with the challenge of /v2/"
is "$(j '.errors[0].code')" UNAUTHORIZED "2: errors are JSON with a code"

# --- 3: one registry
is "$(api /registries/apps)" 401 "3: alice's registry, anonymously: 401"
like "$(header www-authenticate)" '^Bearer realm=".*/token",service="depot"' \
    "3: with the Bearer challenge"
is "$(api /registries/apps -u "$BOB")" 404 "3: alice's registry, as bob: 404"
is "$(j '.errors[0].code')" NAME_UNKNOWN "3: ... NAME_UNKNOWN, as an unknown name"
is "$(api /registries/nosuch -u "$BOB")" 404 "3: an unknown registry, signed in: 404"
bob_unknown=$(j -c '.errors[0] | del(.detail)')
api /registries/apps -u "$BOB" >/dev/null
is "$(j -c '.errors[0] | del(.detail)')" "$bob_unknown" \
    "3: a registry one may not read answers as one that does not exist"
is "$(api /registries/nosuch)" 401 "3: an unknown registry, anonymously: 401"
is "$(api /registries/apps -u "$ALICE")" 200 "3: alice's registry, as alice: 200"
is "$(j '.name + " " + .type + " " + .description')" "apps docker team images" \
    "3: name, type and description"
is "$(j '.labels | join(",")')" team-a,prod "3: labels"
is "$(j '.upstreams | length')" 0 "3: no upstreams"
is "$(j '.pull_prefix')" "$reg/apps" "3: where images are pulled from"
is "$(j '.stats.repositories')" 1 "3: one repository"
is "$(j '.stats.tags')" 2 "3: two tags"
like "$(j '.stats.bytes')" '^[1-9][0-9]{4,}$' "3: the bytes stored (two 8 KiB layers and more)"
is "$(j '.stats.complete')" true "3: the totals are complete"
is "$(j '.cache | keys | join(",")')" hits,misses,stale "3: cache counters"
api /registries/proxied -u "$ALICE" >/dev/null
is "$(j '[.upstreams[].key] | join(",")')" hub2,hub "3: the upstreams in query order"
is "$(j '.upstreams[1].url + " " + .upstreams[1].source + " " + .upstreams[1].health.state')" \
    "http://127.0.0.1:9 custom ok" "3: each with its URL, source and health"
api /registries/charts >/dev/null
is "$(j '.type + " " + .repo_url')" "helm $base/helm/charts" \
    "3: a helm registry names its repository URL"
is "$(j '[.stats.charts, .stats.versions, .stats.bytes, .stats.complete] | map(tostring) | join(" ")')" \
    "1 1 $(wc -c <"$T_DIR/okchart-0.1.0.tgz") true" "3: ... and counts its hosted charts, versions and bytes"

# --- 4: repositories, paged as the catalog
is "$(api '/registries/pub/repositories?n=2')" 200 "4: pub's repositories, n=2: 200"
is "$(j '[.repositories[].name] | join(",")')" alpha,beta "4: the first page"
is "$(j .next)" "/api/v1/registries/pub/repositories?last=beta&n=2" "4: the next page is named"
is "$(header link)" '</api/v1/registries/pub/repositories?last=beta&n=2>; rel="next"' \
    "4: ... in a Link header too"
api '/registries/pub/repositories?last=beta&n=2' >/dev/null
is "$(j '[.repositories[].name] | join(",")')" gamma,multi "4: the second page"
is "$(j '.next // "none"')" none "4: the last page names no next"
api /registries/pub/repositories >/dev/null
is "$(j '[.repositories[] | .repository + ":" + (.tags|tostring)] | join(",")')" \
    pub/alpha:1,pub/beta:1,pub/gamma:1,pub/multi:1 "4: full names and tag counts"
is "$(api /registries/apps/repositories)" 401 "4: alice's repositories, anonymously: 401"
is "$(api /registries/apps/repositories -u "$BOB")" 404 "4: ... as bob: 404"
is "$(api '/registries/pub/repositories?n=x')" 400 "4: a bad n: 400"
is "$(j '.errors[0].code')" PAGINATION_NUMBER_INVALID "4: ... PAGINATION_NUMBER_INVALID"
is "$(api /registries/charts/repositories)" 404 "4: a helm registry has no repositories"

# --- 5: a repository and its tags
is "$(api /registries/apps/repositories/web -u "$ALICE")" 200 "5: apps/web as alice: 200"
is "$(j '[.tags[].tag] | join(",")')" 1.0,2.0 "5: its tags"
is "$(j '.tags[0].digest')" "$d_web1" "5: the tag's digest is the manifest's"
is "$(j '.tags[0].media_type')" application/vnd.oci.image.manifest.v1+json "5: its media type"
like "$(j '.tags[0].size')" '^[0-9]{5,}$' "5: its size (manifest, config and layers)"
like "$(j '.tags[0].updated')" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "5: when it was pushed"
is "$(j '.tags[0].origin')" null "5: pushed here, not cached from an upstream"
is "$(j '.tags[0].platforms[0].os + "/" + .tags[0].platforms[0].architecture')" linux/amd64 \
    "5: the image's platform, from its config"
is "$(j '[.tags[0].referrers[].digest] | join(",")')" "$d_ref" "5: the referrer of its digest"
is "$(j '.tags[0].referrers[0].artifact_type')" application/vnd.example.signature \
    "5: ... with its artifact type"
api '/registries/apps/repositories/web?n=1' -u "$ALICE" >/dev/null
is "$(j '([.tags[].tag] | join(",")) + " " + .next')" \
    "1.0 /api/v1/registries/apps/repositories/web?last=1.0&n=1" "5: tags are paged too"
is "$(api /registries/pub/repositories/multi)" 200 "5: pub/multi anonymously: 200"
is "$(j '.tags[0].digest')" "$d_multi" "5: the multi-arch tag's digest is the index's"
is "$(j '.tags[0].media_type')" application/vnd.oci.image.index.v1+json "5: an OCI index"
is "$(j '[.tags[0].platforms[] | .os + "/" + .architecture] | join(",")')" linux/amd64,linux/arm64 \
    "5: the architectures of the multi-arch image"
is "$(j '[.tags[0].platforms[].digest] | join(",")')" "$d_multi_amd64,$d_multi_arm64" \
    "5: the digest of each platform's manifest"
is "$(api /registries/apps/repositories/web)" 401 "5: apps/web anonymously: 401"
is "$(api /registries/apps/repositories/web -u "$BOB")" 404 "5: apps/web as bob: 404"
is "$(api /registries/pub/repositories/nosuch)" 404 "5: an unknown repository: 404"
is "$(api /registries/pub/repositories/Bad..Name)" 400 "5: a bad repository name: 400"

# --- 6: charts of a helm registry: hosted, then its upstream's
is "$(api /registries/charts/charts)" 200 "6: the helm registry's chart listing"
is "$(j '[.charts[] | .name + " " + .version + " " + .source] | join(",")')" \
    "okchart 0.2.0 charts-up,okchart 0.1.0 hosted,upchart 2.0.0 charts-up,upchart 1.0.0 charts-up" \
    "6: hosted and upstream versions, by name, newest first; the hosted okchart 0.1.0 wins"
is "$(j '.charts[1] | .digest + " " + (.hosted|tostring) + " " + (.cached|tostring) + " " + .description')" \
    "$d_chart true true a test chart" "6: the hosted one: its digest and description, stored"
like "$(j '.charts[1].size')" '^[1-9][0-9]*$' "6: ... and its size"
is "$(j '.charts[3] | .description + "|" + .app_version + "|" + .created + "|" + (.hosted|tostring)')" \
    "Upstream chart 1.0.0|up-1.0.0|2026-01-02T03:04:05Z|false" \
    "6: an upstream's version: description, appVersion and created from its index"
is "$(j '.charts[3].digest')" "$(sha256 "$T_DIR/www-charts/charts/upchart-1.0.0.tgz")" \
    "6: ... its digest"
is "$(j '.charts[3].url')" "$base/helm/charts/charts/upchart-1.0.0.tgz" "6: ... its URL at depot"
is "$(j '[.charts[] | .cached] | map(tostring) | join(",")')" false,true,false,false \
    "6: no upstream chart is cached yet"
curl -sf -o "$T_DIR/upchart.tgz" "$base/helm/charts/charts/upchart-1.0.0.tgz"
check "6: upchart 1.0.0 is pulled through the registry" \
    cmp "$T_DIR/upchart.tgz" "$T_DIR/www-charts/charts/upchart-1.0.0.tgz"
api /registries/charts/charts >/dev/null
is "$(j '[.charts[] | .cached] | map(tostring) | join(",")')" false,true,false,true \
    "6: ... and then listed as cached"
is "$(api '/registries/charts/charts?n=2')" 200 "6: a page of two"
is "$(j '[.charts[] | .name + " " + .version] | join(",")')" "okchart 0.2.0,okchart 0.1.0" \
    "6: the first page"
is "$(j .next)" "/api/v1/registries/charts/charts?last=okchart%2F0.1.0&n=2" \
    "6: the next page is named (NAME/VERSION)"
is "$(header link)" '</api/v1/registries/charts/charts?last=okchart%2F0.1.0&n=2>; rel="next"' \
    "6: ... in a Link header too"
is "$(api "$(j .next | sed 's|^/api/v1||')")" 200 "6: the next page: 200"
is "$(j '([.charts[] | .name + " " + .version] | join(",")) + " " + (.next // "none")')" \
    "upchart 2.0.0,upchart 1.0.0 none" "6: the second page, the last"
is "$(api '/registries/charts/charts?last=upchart/2.0.0')" 200 "6: a page after upchart 2.0.0: 200"
is "$(j '[.charts[] | .version] | join(",")')" 1.0.0 "6: a page may start inside a chart's versions"
is "$(api '/registries/charts/charts?q=UPch&n=1')" 200 "6: a search: 200"
is "$(j '([.charts[] | .name + " " + .version] | join(",")) + " " + .next')" \
    "upchart 2.0.0 /api/v1/registries/charts/charts?last=upchart%2F2.0.0&n=1&q=UPch" \
    "6: search by name (any case); the next page keeps the search"
is "$(api '/registries/charts/charts?q=nosuch')" 200 "6: a search that matches nothing: 200"
is "$(j '.charts | length')" 0 "6: a search that matches nothing"
is "$(api "/registries/charts/charts?q=$(printf '%0300d' 0)")" 400 "6: a search text too long: 400"
is "$(api /registries/charts-up/charts)" 401 "6: an upstream key's charts, anonymously: 401"
is "$(api /registries/charts-up/charts -u "$BOB")" 200 "6: an upstream key's charts, as bob"
is "$(j '[.charts[] | .name + " " + .version + " " + .source] | join(",")')" \
    "okchart 0.2.0 charts-up,okchart 0.1.0 charts-up,upchart 2.0.0 charts-up,upchart 1.0.0 charts-up" \
    "6: ... all of the upstream's"
is "$(api /registries/pub/charts)" 404 "6: a docker registry has no charts"
is "$(api /registries/hub/charts -u "$ALICE")" 404 "6: a docker upstream has no charts"
is "$(api /registries/nosuch/charts)" 401 "6: an unknown registry's charts, anonymously: 401"

# --- 7: set-up instructions, from the function depotctl uses
DEPOTCTL=${DEPOTCTL:-$(dirname "$DEPOTD")/depotctl}
is "$(api /registries/apps/setup -u "$ALICE")" 200 "7: apps' set-up as alice: 200"
"$DEPOTCTL" -c "$conf" setup-client apps >"$T_DIR/ctl-setup" 2>&1
jq -j .text "$T_DIR/body" >"$T_DIR/api-setup"
check "7: the text is what depotctl setup-client prints" cmp "$T_DIR/ctl-setup" "$T_DIR/api-setup"
is "$(j '[.sections[].title] | index("Pull") != null')" true "7: sections are titled (Pull)"
like "$(j '.sections[] | select(.title == "Pull") | .commands[0]')" "^docker pull $reg/apps/IMAGE:TAG\$" \
    "7: the Pull section's commands use the address the client used"
is "$(j '.sign_in')" true "7: it says users sign in"
is "$(api /registries/apps/setup)" 401 "7: apps' set-up anonymously: 401"
is "$(api /registries/charts/setup)" 200 "7: a helm registry's set-up"
like "$(j '.text')" "helm repo add charts $base/helm/charts" "7: ... says helm repo add"
api /registries/pub/setup -H "X-Forwarded-Host: registry.example.com" \
    -H "X-Forwarded-Proto: https" >/dev/null
like "$(j '.base_url')" '^https://registry\.example\.com$' \
    "7: behind a trusted proxy, the public address it forwards"

# --- 8: upstreams
is "$(api /upstreams)" 200 "8: upstreams anonymously: 200"
is "$(j '[.upstreams[].key] | join(",")')" charts-up "8: anonymous sees the upstream of a registry it may read"
api /upstreams -u "$ALICE" >/dev/null
is "$(j '[.upstreams[].key] | join(",")')" hub,hub2,charts-up "8: alice sees every upstream"
api /upstreams -u "$BOB" >/dev/null
is "$(j '[.upstreams[].key] | join(",")')" hub,charts-up "8: bob sees those he may read (not hub2)"
is "$(api /upstreams/hub)" 401 "8: hub anonymously: 401"
# A pull of a missing tag asks hub, which nobody answers.
curl -s -o /dev/null -u "$ALICE" "$base/v2/hub/web/manifests/missing"
is "$(api /upstreams/hub -u "$ALICE")" 200 "8: hub as alice: 200"
is "$(j '.key + " " + .type + " " + .source + " " + .url + " " + .auth')" \
    "hub docker custom http://127.0.0.1:9 userpass" "8: key, type, source, URL and auth type"
is "$(j .tag_ttl)" 120 "8: tag_ttl"
is "$(j '.registries | join(",")')" proxied "8: the registries that ask it"
is "$(j '.health.last_error')" connect "8: the last error, after a refused connection"
like "$(j '.health.consecutive_failures')" '^[1-9]' "8: failures counted"
like "$(j '.health.last_failure')" '^20[0-9-]+T' "8: when it failed"
like "$(j '.health.state')" '^(failing|open)$' "8: the breaker's state"
like "$(j '.errors')" '^[1-9]' "8: upstream errors counted (metrics)"
is "$(j '.cache | keys | join(",")')" hits,misses,stale "8: cache counters"
is "$(api /upstreams/nosuch -u "$ALICE")" 404 "8: an unknown upstream: 404"

# --- 9: methods and unknown endpoints
st=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -X POST -u "$ALICE" "$base/api/v1/registries")
is "$st" 405 "9: POST: 405 (the API is read-only)"
is "$(j '.errors[0].code')" UNSUPPORTED "9: ... as JSON"
is "$(api /nosuch)" 404 "9: an unknown endpoint: 404"
is "$(j '.errors[0].message')" "no such endpoint" "9: ... with a message"
is "$(http_status "$base/api/v1x")" 404 "9: /api/v1x is not the API"
is "$(curl -s -o /dev/null -w '%{http_code}' -I "$base/api/v1/registries")" 200 "9: HEAD: 200"

# --- 10: no secret in any answer
for s in $(cat "$T_DIR/secrets"); do
	if grep -qF -- "$s" "$T_DIR/answers"; then
		not_ok "10: no answer holds a configured secret"
		echo "#   found one of the secrets"
		break
	fi
done
[ "$T_COUNT" -gt 0 ] && ! grep -qF -f "$T_DIR/secrets" "$T_DIR/answers" &&
	ok "10: no answer holds a configured secret (passwords, upstream password, token key)"
check "10: no answer holds the tokens alice used" sh -c \
    "! grep -qF -e '$tok' -e '$ctok' -e '$rtok' '$T_DIR/answers'"
check "10: nor the upstream's user name" sh -c "! grep -qF ci-user '$T_DIR/answers'"
