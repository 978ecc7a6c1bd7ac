#!/usr/bin/env python3
"""token_issuer.py: a small Docker registry token service for tests.

It implements the token side of Docker's token authentication
specification well enough for the reference registry (distribution 2.8)
to accept its tokens:

  GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]
      optional Basic credentials. Answers
      {"token", "access_token", "expires_in", "issued_at"}.
  POST /token   the OAuth2 form (grant_type=password with username and
      password, or anonymous), answered the same way.
  GET /healthz  200, not logged.

Users are given with --user NAME:PASSWORD (default ci:ci-secret). A known
user with the right password is granted every action asked for; an
anonymous client is granted pull only (or refused with 401 when
--no-anonymous is given); wrong credentials get 401.

The token is a JWT signed with RS256. Its header carries "kid" in the
form the registry derives from the certificates of its rootcertbundle
(libtrust key id: SHA-256 of the DER SubjectPublicKeyInfo, the first 240
bits in base32 without padding, in groups of four joined by ':').
The claims are iss, sub, aud (the service, a string), exp, nbf, iat, jti
and access. Keys are made with the openssl command line tool: DIR/key.pem
and the self-signed DIR/cert.pem (the registry's rootcertbundle) are
created when missing and reused otherwise, so a restarted issuer keeps
its key.

Every token request is logged to --log, one line each, fields separated
by a space:

  TIME user=NAME|anonymous scope=SCOPE[;SCOPE...]|- status=CODE

(NAME is the user name the client sent, also when its password was
wrong.) Only the python3 standard library and the openssl tool are used.

  token_issuer.py --port PORT --dir DIR --log FILE [--issuer ISSUER]
                  [--service SERVICE] [--user NAME:PASSWORD]...
                  [--no-anonymous] [--expires-in SECONDS]
"""

import argparse
import base64
import binascii
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    res = subprocess.run(("openssl",) + args, input=data,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=False)
    if res.returncode != 0:
        raise RuntimeError("openssl %s: %s" %
                           (args[0], res.stderr.decode(errors="replace")))
    return res.stdout


def ensure_keys(directory):
    """Create key.pem and cert.pem in directory unless both exist."""
    os.makedirs(directory, exist_ok=True)
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    if os.path.exists(key) and os.path.exists(cert):
        return key, cert
    tmpkey = key + ".tmp"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
            "rsa_keygen_bits:2048", "-out", tmpkey)
    os.chmod(tmpkey, 0o600)
    openssl("req", "-new", "-x509", "-key", tmpkey, "-out", cert + ".tmp",
            "-days", "3650", "-subj", "/CN=depot test token issuer")
    os.replace(tmpkey, key)
    os.replace(cert + ".tmp", cert)
    return key, cert


def libtrust_kid(key):
    """The key id distribution derives from the public key of key."""
    der = openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    digest = hashlib.sha256(der).digest()[:30]
    s = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def parse_scope(scope):
    """'repository:a/b:pull,push' -> ('repository', 'a/b', ['pull', 'push'])."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first < 0 or last == first:
        return None
    actions = [a for a in scope[last + 1:].split(",") if a]
    return scope[:first], scope[first + 1:last], actions


class Issuer:
    def __init__(self, args):
        self.args = args
        self.key, self.cert = ensure_keys(args.dir)
        self.kid = libtrust_kid(self.key)
        self.users = {}
        for u in args.user or ["ci:ci-secret"]:
            name, _, password = u.partition(":")
            self.users[name] = password
        self.lock = threading.Lock()

    def log(self, user, scopes, status):
        line = "%s user=%s scope=%s status=%d\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            user, ";".join(scopes) if scopes else "-", status)
        with self.lock:
            with open(self.args.log, "a") as f:
                f.write(line)

    def sign(self, data):
        return openssl("dgst", "-sha256", "-sign", self.key, data=data)

    def token(self, subject, service, scopes, anonymous):
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            rtype, name, actions = parsed
            if anonymous:
                actions = [a for a in actions if a == "pull"]
            if actions:
                access.append({"type": rtype, "name": name,
                               "actions": actions})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {
            "iss": self.args.issuer,
            "sub": subject,
            "aud": service or self.args.service,
            "exp": now + self.args.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = self.sign(signing_input.encode())
        return signing_input + "." + b64url(sig), now


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "depot-test-token/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def reply(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def basic_credentials(self):
        value = self.headers.get("Authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            raw = base64.b64decode(value[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return ("", None)
        name, sep, password = raw.decode("utf-8", "replace").partition(":")
        return (name, password if sep else None)

    def answer(self, service, scopes, creds):
        issuer = self.server.issuer
        if creds is None:
            if issuer.args.no_anonymous:
                issuer.log("anonymous", scopes, 401)
                self.reply(401, {"errors": [{
                    "code": "UNAUTHORIZED",
                    "message": "authentication required"}]},
                    {"WWW-Authenticate": 'Basic realm="depot-test"'})
                return
            token, now = issuer.token("", service, scopes, True)
            user = "anonymous"
        else:
            name, password = creds
            user = name or "-"
            if name not in issuer.users or issuer.users[name] != password:
                issuer.log(user, scopes, 401)
                self.reply(401, {"errors": [{
                    "code": "UNAUTHORIZED",
                    "message": "invalid user name or password"}]},
                    {"WWW-Authenticate": 'Basic realm="depot-test"'})
                return
            token, now = issuer.token(name, service, scopes, False)
        issuer.log(user, scopes, 200)
        self.reply(200, {
            "token": token,
            "access_token": token,
            "expires_in": issuer.args.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                       time.gmtime(now)),
        })

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self.reply(200, {})
            return
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        q = urllib.parse.parse_qs(url.query)
        self.answer(q.get("service", [""])[0], q.get("scope", []),
                    self.basic_credentials())

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        form = urllib.parse.parse_qs(body)
        scopes = []
        for s in form.get("scope", []):
            scopes.extend(s.split(" "))
        creds = self.basic_credentials()
        if creds is None and form.get("grant_type", [""])[0] == "password":
            creds = (form.get("username", [""])[0],
                     form.get("password", [None])[0])
        self.answer(form.get("service", [""])[0], scopes, creds)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True,
                   help="where key.pem and cert.pem are kept")
    p.add_argument("--log", required=True, help="token request log")
    p.add_argument("--issuer", default="depot-test-issuer")
    p.add_argument("--service", default="depot-test-registry")
    p.add_argument("--user", action="append",
                   help="NAME:PASSWORD (default ci:ci-secret)")
    p.add_argument("--no-anonymous", action="store_true",
                   help="refuse clients without credentials (401)")
    p.add_argument("--expires-in", type=int, default=300)
    args = p.parse_args()

    server = Server((args.host, args.port), Handler)
    server.issuer = Issuer(args)
    open(args.log, "a").close()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
