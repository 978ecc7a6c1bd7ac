#!/bin/sh
# config.sh: depotd -t on good and bad configurations, -V, usage errors.
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

out=$("$DEPOTD" -t -c "$DEPOT_SRCDIR/etc/depot.conf.example" 2>&1)
rc=$?
is "$rc" 0 "the example configuration passes -t"
is "$out" "configuration OK" "-t prints configuration OK"

like "$("$DEPOTD" -V)" "^depotd [0-9]+\.[0-9]+" "-V prints the version"
"$DEPOTD" -x >/dev/null 2>&1
is "$?" 2 "an unknown option is a usage error (exit 2)"

cat >"$T_DIR/bad.conf" <<'EOC'
server = {
  listen = [ "127.0.0.1:5000" ];
  bogus = 1;
};
registries = (
  { name = "1abc"; type = "docker"; }
);
EOC
out=$("$DEPOTD" -t -c "$T_DIR/bad.conf" 2>&1)
is "$?" 1 "a bad configuration fails -t with exit 1"
like "$out" "bad.conf:3: .*bogus" "an unknown key is reported with file and line"
like "$out" "bad.conf:6: .*starts with a lowercase letter" "a bad name quotes the name rule"

printf 'server = {\n  listen = [ "127.0.0.1:5000" \n};\n' >"$T_DIR/syntax.conf"
out=$("$DEPOTD" -t -c "$T_DIR/syntax.conf" 2>&1)
is "$?" 1 "a syntax error fails -t"
like "$out" "syntax.conf:[0-9]+:" "a syntax error names file and line"

out=$("$DEPOTD" -t -c "$T_DIR/missing.conf" 2>&1)
is "$?" 1 "a missing file fails -t"
like "$out" "missing.conf" "a missing file is named"

# --- a start that fails on what the configuration names (a users file
# others may read) says why, exits 1 and leaves nothing allocated
# (sanitizer builds report leaks at exit).
port=$(free_port)
printf 'alice:{SHA}x\n' >"$T_DIR/users-open"
chmod 644 "$T_DIR/users-open"
write_conf "$T_DIR/open-users.conf" "$port" "" "auth = {
  users_file = \"$T_DIR/users-open\";
  token_key_file = \"$T_DIR/token.key\";
  token_cert_file = \"$T_DIR/token.crt\";
};"
out=$("$DEPOTD" -f -c "$T_DIR/open-users.conf" 2>&1)
is "$?" 1 "depotd with a users file of mode 0644 does not start (exit 1)"
like "$out" "mode 0644 lets others read or write the users file" "... saying why"
leaks=$(printf '%s\n' "$out" | grep -c 'LeakSanitizer\|byte(s) leaked')
is "$leaks" 0 "... and frees its configuration on the way out"

# --- the man pages render without warnings
if command -v groff >/dev/null; then
	for page in "$DEPOT_SRCDIR"/man/*.[58]; do
		out=$(groff -ww -z -mdoc "$page" 2>&1)
		is "$out" "" "$(basename "$page") renders without warnings"
	done
else
	skip "groff is not installed (scripts/deps test installs groff-base)"
fi
