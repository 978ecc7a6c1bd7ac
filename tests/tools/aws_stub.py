#!/usr/bin/env python3
"""aws_stub.py: stand-ins for the AWS services an ECR upstream talks to.

One HTTP/1.1 server on loopback plays, on one port, every AWS endpoint
depot's ECR support reaches, and checks each request the way AWS does:

  ECR API     POST / with X-Amz-Target
              AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken
              (service "ecr") or SpencerFrontendService.GetAuthorizationToken
              (ECR Public, service "ecr-public", region us-east-1 only),
              Content-Type application/x-amz-json-1.1, a JSON body.
              The SigV4 Authorization header is recomputed here (hmac,
              hashlib) from the known secret of its access key id; the
              credential scope's date must be X-Amz-Date's, X-Amz-Date within
              15 minutes of now, host and x-amz-date signed. Keys issued by
              STS, the container endpoint or IMDS need their session token in
              X-Amz-Security-Token, and are refused once expired. Answers
              {"authorizationData":[{"authorizationToken":
              base64("AWS:" + password), "expiresAt": epoch seconds,
              "proxyEndpoint": registry URL}]} (ECR Public: {"authorizationData":
              {"authorizationToken", "expiresAt"}}). Errors are AWS JSON 1.1
              errors, status 400, {"__type": CODE, "message": TEXT} and the
              header x-amzn-ErrorType: CODE:
                MissingAuthenticationTokenException  no Authorization
                IncompleteSignatureException    malformed Authorization
                UnrecognizedClientException     unknown key id, missing or
                                                wrong session token
                InvalidSignatureException       wrong signature (a wrong
                                                secret), stale X-Amz-Date
                ExpiredTokenException           temporary keys past expiry
                ThrottlingException             when told to throttle
                UnknownOperationException       another X-Amz-Target
              Why a signature was refused (the canonical request and string
              to sign computed here) goes to the log, never to the client.
  STS         AssumeRoleWithWebIdentity, unsigned as in AWS: POST / with a
              form body, or GET /?Action=..., with Action,
              RoleArn, RoleSessionName, WebIdentityToken (Version,
              DurationSeconds optional). The token must equal the content of
              --web-identity-token-file (read at each call, so a test can
              rotate it) and RoleArn --role-arn. Answers the STS XML with
              temporary credentials (AccessKeyId ASIA..., SecretAccessKey,
              SessionToken, Expiration) that the ECR API then accepts.
              Errors: STS XML ErrorResponse (InvalidIdentityToken 400,
              AccessDenied 403, ValidationError 400).
  container   GET --container-path (default /v1/credentials): the ECS/EKS
  credentials credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI).
              Authorization must equal --container-token (401 without, 403
              when wrong). Answers {"AccessKeyId", "SecretAccessKey",
              "Token", "Expiration", "RoleArn"}.
  IMDSv2      PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
              (1..21600; 400 otherwise, 403 when X-Forwarded-For is present)
              answers a session token. GET
              /latest/meta-data/iam/security-credentials/ (the role name,
              --imds-role) and .../<role> (JSON: Code, LastUpdated, Type,
              AccessKeyId, SecretAccessKey, Token, Expiration) only with a
              valid, unexpired X-aws-ec2-metadata-token: 401 otherwise, so
              IMDSv1 (no token) is refused.
  registry    /v2/... is forwarded to --registry (Debian's docker-registry
  front       with htpasswd), headers and bodies streamed, Authorization
              included: the registry itself checks the Basic password, which
              is the password of the token GetAuthorizationToken hands out
              (user AWS). The front adds what ECR does beyond that:
               - Basic AWS:<password> whose every issued token has expired
                 answers 403 DENIED "Your authorization token has expired.";
               - in redirect mode, a blob GET the registry would answer
                 (checked with a HEAD carrying the client's Authorization) is
                 answered 307 to a presigned "S3" URL on --s3-port (another
                 origin: depot must not carry Authorization there).
  S3          GET /_s3/<bucket>/<repository>/<digest>?X-Amz-Algorithm=...&
              X-Amz-Signature=...: any request carrying Authorization gets
              S3's 400 InvalidArgument "Only one auth mechanism allowed";
              a wrong or missing query signature 403 SignatureDoesNotMatch,
              an expired URL 403 AccessDenied; otherwise the blob (fetched
              from the registry with the current password), Range honoured.

Control (loopback, GET or POST, each answers the state as JSON):

  /_control/state     counters and settings (see below)
  /_control/set?K=V&...  change settings:
        token_ttl=S     seconds until the expiresAt of the next tokens
        creds_ttl=S     seconds until the Expiration of the next temporary
                        credentials (STS, container, IMDS)
        throttle=on|off|N   answer GetAuthorizationToken with
                        ThrottlingException always, never, or the next N calls
        redirect=on|off blob GETs redirected to "S3" or forwarded
        hold=on|off     GetAuthorizationToken calls that arrive wait (after
                        their signature was checked) until hold is off
                        again (120 s at most); gat_held counts those
                        waiting: a test holds a refresh in flight with it
  /_control/revoke    rotate the registry password (htpasswd rewritten; the
                      registry re-reads it): tokens handed out so far keep
                      their expiresAt but the registry answers them 401; the
                      next GetAuthorizationToken hands out the new password
  /_control/reset     counters back to zero
  /_control/wait_expired  200 when the last token handed out has expired,
                      409 otherwise (poll it to wait for an expiry)

State counters: gat (GetAuthorizationToken calls that reached the stub),
gat_ok, gat_err, gat_by_kind {static, sts, container, imds} (successful
calls by where the signing key came from), gat_by_key {key id: n}, errors
{CODE: n}, ecr_public, sts, sts_err, container, container_err,
imds_token, imds_creds, imds_err, registry (requests forwarded), denied_expired,
redirects, s3_with_auth, s3_without_auth, s3_served, revocations,
last_region, last_service, gat_held; settings token_ttl, creds_ttl,
throttle, redirect, hold; password (the registry password of the current
generation, so that a test can look for it where it must not be);
password_generation (how many passwords so far), tokens_issued,
tokens_expired (true when the last token handed out has expired).

Every request is logged to --log as one line
  "METHOD PATH STATUS ROLE[ NOTE]"
(ROLE: ecr, ecr-public, sts, container, imds, registry, s3, control;
NOTE: e.g. key=AKID kind=static, or the AWS error code). Secrets, session
tokens and passwords are never logged. Signature mismatches add
"#"-prefixed lines with the canonical request and string to sign.

Command line:

  aws_stub.py (--port PORT | --fd FD) [--s3-port PORT | --s3-fd FD]
      [--host 127.0.0.1] [--log FILE]
      [--key ID:SECRET[:SESSION_TOKEN]]...   static keys (repeatable)
      [--registry URL] [--htpasswd FILE] [--password PW]
      [--account 123456789012] [--public-password PW]
      [--token-ttl 43200] [--creds-ttl 3600] [--redirect]
      [--web-identity-token-file FILE] [--role-arn ARN]
      [--container-path PATH] [--container-token TOKEN]
      [--imds-role NAME]
  aws_stub.py --self-test DIR

--port 0 picks a free port; --fd serves an inherited listening socket (the
port tests/regress/lib.sh's free_port reserved can be passed as --port).
Once listening, the stub prints "listening on HOST:PORT" (and
"s3 listening on HOST:PORT") on stdout. --htpasswd names the registry's
password file: the stub writes the line of user AWS with the current
password (bcrypt, by htpasswd(1)) at start and on every revoke, keeping
every other line. Without --password a random one is chosen.
--public-password fixes the password of ECR Public's tokens (for a
registry of its own behind a token service; those tokens are not the
front's and do not count in tokens_expired); without it ECR Public hands
out the private registry's password.
Without --s3-port the "S3" URLs use the host name "localhost" on the main
port (another origin than 127.0.0.1).

--self-test DIR verifies every case of the AWS Signature Version 4 test
suite in DIR (NAME/NAME.req signed with NAME.authz is accepted, its canonical request and string
to sign equal NAME.creq and NAME.sts; a changed byte is refused) and exits
0 or 1. Only the Python standard library is used.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import socket
import socketserver
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape as xml_escape

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
ECR_PUBLIC_TARGET = "SpencerFrontendService.GetAuthorizationToken"
ECR_JSON = "application/x-amz-json-1.1"
SKEW = 15 * 60
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "expect", "host",
}
BLOB_RE = re.compile(r"^/v2/(.+)/blobs/([A-Za-z0-9_+.-]+:[A-Fa-f0-9]+)$")
CHUNK = 65536


# --- SigV4, verified as AWS does --------------------------------------------

class SigError(Exception):
    """A request AWS would refuse: CODE and message."""

    def __init__(self, code, message, detail=None):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.detail = detail or []


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def uri_encode(text):
    return urllib.parse.quote(text, safe="-_.~")


def canonical_uri(path):
    """The path, decoded, dot segments and empty segments removed,
    each segment encoded once (the suite's rule for non-S3 services)."""
    raw = urllib.parse.unquote(path)
    out = []
    for seg in raw.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    trail = raw.endswith("/") or raw.endswith("/.") or raw.endswith("/..")
    uri = "/" + "/".join(uri_encode(s) for s in out)
    if trail and out:
        uri += "/"
    return uri


def canonical_query(query):
    pairs = []
    if query:
        for part in query.split("&"):
            if part == "":
                continue
            k, _, v = part.partition("=")
            pairs.append((uri_encode(urllib.parse.unquote(k)),
                          uri_encode(urllib.parse.unquote(v))))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def header_values(headers, name):
    return [v for (k, v) in headers if k.lower() == name]


def parse_authorization(value):
    if not value.startswith("AWS4-HMAC-SHA256 "):
        raise SigError("IncompleteSignatureException",
                       "Authorization header requires the AWS4-HMAC-SHA256 "
                       "algorithm.")
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, sep, v = part.strip().partition("=")
        if not sep:
            raise SigError("IncompleteSignatureException",
                           "Authorization header requires 'Credential', "
                           "'SignedHeaders' and 'Signature' parameters.")
        fields[k] = v
    for need in ("Credential", "SignedHeaders", "Signature"):
        if need not in fields:
            raise SigError("IncompleteSignatureException",
                           "Authorization header requires '%s' parameter."
                           % need)
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SigError("IncompleteSignatureException",
                       "Credential should be scoped to a valid region, "
                       "service and aws4_request terminator.")
    return scope, fields["SignedHeaders"], fields["Signature"]


def sigv4_verify(method, target, headers, body, lookup, now=None):
    """Check a SigV4-signed request. headers: list of (name, value) in
    order. lookup(key_id) -> dict(secret=..., token=... or None,
    expires=epoch or None, kind=...) or None. Returns (key record, scope
    list). Raises SigError."""
    auths = header_values(headers, "authorization")
    if not auths:
        raise SigError("MissingAuthenticationTokenException",
                       "Missing Authentication Token")
    if len(auths) > 1:
        raise SigError("IncompleteSignatureException",
                       "More than one Authorization header.")
    scope, signed, signature = parse_authorization(auths[0])
    key_id, sdate, region, service, _ = scope
    rec = lookup(key_id)
    if rec is None:
        raise SigError("UnrecognizedClientException",
                       "The security token included in the request is "
                       "invalid.")
    dates = header_values(headers, "x-amz-date")
    if len(dates) != 1 or not re.match(r"^\d{8}T\d{6}Z$", dates[0]):
        raise SigError("IncompleteSignatureException",
                       "Authorization header requires existence of either "
                       "a 'X-Amz-Date' or a 'Date' header.")
    amzdate = dates[0]
    if amzdate[:8] != sdate:
        raise SigError("InvalidSignatureException",
                       "Credential should be scoped to a valid date: "
                       "'%s' != '%s'." % (sdate, amzdate[:8]))
    if now is not None:
        when = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        if when < now - SKEW:
            raise SigError("InvalidSignatureException",
                           "Signature expired: %s is now earlier than %s "
                           "(%s - 15 min.)" % (amzdate, _amz(now - SKEW),
                                               _amz(now)))
        if when > now + SKEW:
            raise SigError("InvalidSignatureException",
                           "Signature not yet current: %s is still later "
                           "than %s (%s + 15 min.)" % (amzdate,
                                                       _amz(now + SKEW),
                                                       _amz(now)))
    names = signed.split(";")
    if names != sorted(names) or any(n != n.lower() or n == "" for n in names):
        raise SigError("InvalidSignatureException",
                       "SignedHeaders must be lowercase, sorted and "
                       "separated by ';'.")
    for need in ("host", "x-amz-date"):
        if need not in names:
            raise SigError("InvalidSignatureException",
                           "'%s' must be a signed header." % need)
    lines = []
    for n in names:
        vals = header_values(headers, n)
        if not vals:
            raise SigError("InvalidSignatureException",
                           "Signed header '%s' is not in the request." % n)
        vals = [" ".join(v.strip().split()) for v in vals]
        lines.append("%s:%s\n" % (n, ",".join(vals)))
    path, _, query = target.partition("?")
    payload = hashlib.sha256(body).hexdigest()
    creq = "\n".join([method, canonical_uri(path), canonical_query(query),
                      "".join(lines), signed, payload])
    scope_text = "/".join(scope[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope_text,
                     hashlib.sha256(creq.encode("utf-8")).hexdigest()])
    want = hmac.new(signing_key(rec["secret"], sdate, region, service),
                    sts.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        raise SigError("InvalidSignatureException",
                       "The request signature we calculated does not match "
                       "the signature you provided. Check your AWS Secret "
                       "Access Key and signing method. Consult the service "
                       "documentation for details.",
                       detail=["canonical request:"] + creq.split("\n") +
                       ["string to sign:"] + sts.split("\n"))
    tokens = header_values(headers, "x-amz-security-token")
    if rec.get("token") is not None:
        if len(tokens) != 1 or not hmac.compare_digest(
                tokens[0].encode(), rec["token"].encode()):
            raise SigError("UnrecognizedClientException",
                           "The security token included in the request is "
                           "invalid.")
    elif tokens and rec.get("check_token", True):
        raise SigError("UnrecognizedClientException",
                       "The security token included in the request is "
                       "invalid.")
    if rec.get("expires") is not None and now is not None and \
            now >= rec["expires"]:
        raise SigError("ExpiredTokenException",
                       "The security token included in the request is "
                       "expired")
    return rec, scope, creq, sts


def _amz(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# --- the self-test over the AWS SigV4 suite ----------------------------------

def parse_suite_request(data):
    """A suite .req/.sreq file: request line, headers, blank line, body."""
    text = data.decode("utf-8")
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = rest.rsplit(" ", 1)[0]
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            k, v = headers[-1]
            headers[-1] = (k, v + "," + line.strip())
            continue
        k, _, v = line.partition(":")
        headers.append((k, v.strip()))
    return method, target, headers, body.encode("utf-8")


def self_test(folder):
    conf = {}
    with open(os.path.join(folder, "CONFIG")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            conf[k] = v
    rec = {"secret": conf["secret_access_key"], "token": None,
           "check_token": False, "kind": "suite"}
    cases = sorted(d for d in os.listdir(folder)
                   if os.path.isdir(os.path.join(folder, d)))
    failed = 0
    for name in cases:
        base = os.path.join(folder, name, name)
        # NAME.req signed as NAME.authz says (the .sreq files of two
        # form-urlencoded cases were signed without Content-Length and
        # disagree with their .creq; .req + .authz always agree).
        with open(base + ".req", "rb") as f:
            req = f.read()
        with open(base + ".authz") as f:
            authz = f.read().strip()
        with open(base + ".creq") as f:
            want_creq = f.read()
        with open(base + ".sts") as f:
            want_sts = f.read()
        if hashlib.sha256(want_creq.encode()).hexdigest() != \
                want_sts.split("\n")[-1]:
            print("skip %s (its .creq and .sts disagree)" % name)
            continue
        method, target, headers, body = parse_suite_request(req)
        headers.append(("Authorization", authz))
        look = {conf["access_key_id"]: rec}.get
        try:
            _, _, creq, sts = sigv4_verify(method, target, headers, body, look)
            ok = creq == want_creq and sts == want_sts
            why = "" if ok else "canonical request or string to sign differ"
        except SigError as e:
            ok, why = False, "%s: %s" % (e.code, e.message)
        # A changed byte in the body or a signed header is refused.
        bad = [(k, v + "x") if k.lower() == "x-amz-date" else (k, v)
               for (k, v) in headers]
        try:
            sigv4_verify(method, target, bad, body + b"x", look)
            ok, why = False, "a tampered request was accepted"
        except SigError:
            pass
        print("%s %s%s" % ("ok" if ok else "FAIL", name,
                           "" if ok else " (" + why + ")"))
        failed += not ok
    wrong = dict(rec, secret="Z" + rec["secret"][1:])
    method, target, headers, body = parse_suite_request(
        open(os.path.join(folder, "get-vanilla", "get-vanilla.sreq"),
             "rb").read())
    try:
        sigv4_verify(method, target, headers, body,
                     {conf["access_key_id"]: wrong}.get)
        print("FAIL wrong secret accepted")
        failed += 1
    except SigError as e:
        print("%s wrong secret refused (%s)" % (
            "ok" if e.code == "InvalidSignatureException" else "FAIL", e.code))
        failed += e.code != "InvalidSignatureException"
    print("%d of %d cases failed" % (failed, len(cases) + 1))
    return 1 if failed else 0


# --- state ---------------------------------------------------------------------

class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.keys = {}
        for spec in args.key:
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                sys.exit("aws_stub: --key wants ID:SECRET[:SESSION_TOKEN]")
            self.keys[parts[0]] = {
                "secret": parts[1],
                "token": parts[2] if len(parts) == 3 else None,
                "expires": None, "kind": "static"}
        self.token_ttl = args.token_ttl
        self.creds_ttl = args.creds_ttl
        self.throttle = 0          # 0 off, -1 always, N next N calls
        self.redirect = args.redirect
        self.hold = False
        self.held = 0
        self.cond = threading.Condition(self.lock)
        self.password = args.password or self.random_password()
        self.generation = 1
        self.issued = []           # (password, expiresAt)
        self.imds_tokens = {}      # token -> expiry
        self.s3_secret = secrets.token_bytes(32)
        self.reset()
        if args.htpasswd:
            self.write_htpasswd()

    def reset(self):
        self.c = {
            "gat": 0, "gat_ok": 0, "gat_err": 0,
            "gat_by_kind": {"static": 0, "sts": 0, "container": 0,
                            "imds": 0},
            "gat_by_key": {}, "errors": {}, "ecr_public": 0,
            "sts": 0, "sts_err": 0, "container": 0, "container_err": 0,
            "imds_token": 0, "imds_creds": 0, "imds_err": 0,
            "registry": 0, "denied_expired": 0, "redirects": 0,
            "s3_with_auth": 0, "s3_without_auth": 0, "s3_served": 0,
            "revocations": 0, "last_region": None, "last_service": None,
        }

    @staticmethod
    def random_password():
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(48))

    def write_htpasswd(self):
        path = self.args.htpasswd
        line = subprocess.run(
            ["htpasswd", "-Bbn", "AWS", self.password], check=True,
            capture_output=True, text=True).stdout.strip()
        keep = []
        try:
            with open(path) as f:
                keep = [ln.rstrip("\n") for ln in f
                        if ln.strip() and not ln.startswith("AWS:")]
        except FileNotFoundError:
            pass
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(keep + [line]) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    def lookup(self, key_id):
        with self.lock:
            return self.keys.get(key_id)

    def issue_creds(self, kind):
        """Temporary credentials the ECR API will accept."""
        alphabet = string.ascii_uppercase + string.digits
        key_id = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        token = base64.b64encode(secrets.token_bytes(96)).decode()
        with self.lock:
            expires = int(time.time()) + self.creds_ttl
            self.keys[key_id] = {"secret": secret, "token": token,
                                 "expires": expires, "kind": kind}
        return key_id, secret, token, expires

    def count(self, name, n=1):
        with self.lock:
            self.c[name] += n

    def snapshot(self):
        with self.lock:
            now = time.time()
            d = json.loads(json.dumps(self.c))
            d.update({
                "token_ttl": self.token_ttl, "creds_ttl": self.creds_ttl,
                "throttle": {0: "off", -1: "on"}.get(self.throttle,
                                                     self.throttle),
                "redirect": self.redirect,
                "hold": self.hold, "gat_held": self.held,
                "password": self.password,
                "password_generation": self.generation,
                "tokens_expired": bool(self.issued) and
                self.issued[-1][1] <= now,
                "tokens_issued": len(self.issued),
                "now": now,
            })
            return d

    def password_state(self, pw):
        """'valid', 'expired' (every token with it has expired) or
        'unknown' (never handed out, or an old generation)."""
        with self.lock:
            now = time.time()
            exp = [e for (p, e) in self.issued if p == pw]
        if not exp:
            return "unknown"
        return "valid" if max(exp) > now else "expired"


STATE = None
LOG_LOCK = threading.Lock()


def log(line, detail=()):
    if not STATE.args.log:
        return
    with LOG_LOCK:
        with open(STATE.args.log, "a") as f:
            f.write(line + "\n")
            for d in detail:
                f.write("#   " + d + "\n")


# --- the HTTP server --------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-stub"

    def log_message(self, fmt, *a):
        pass

    # helpers
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body=b"", ctype="application/json", extra=None,
              role="", note=""):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log("%s %s %d %s%s" % (self.command, self.path.split("?")[0], status,
                               role, (" " + note) if note else ""))

    def header_list(self):
        return [(k, v) for (k, v) in self.headers.items()]

    # dispatch
    def dispatch(self):
        path, _, query = self.path.partition("?")
        if getattr(self.server, "is_s3", False):
            if path.startswith("/_s3/"):
                return self.s3(path, query)
            return self.reply(404, "not S3", "text/plain", role="s3")
        if path.startswith("/_control/"):
            return self.control(path, query)
        if path.startswith("/_s3/") and STATE.args.s3_port is None \
                and STATE.args.s3_fd is None:
            return self.s3(path, query)
        if path.startswith("/latest/"):
            return self.imds(path)
        if path == STATE.args.container_path:
            return self.container()
        if path == "/v2" or path.startswith("/v2/"):
            return self.registry(path, query)
        if path == "/":
            body = self.read_body() if self.command == "POST" else b""
            if self.headers.get("X-Amz-Target"):
                return self.ecr(body)
            params = urllib.parse.parse_qs(query, keep_blank_values=True)
            if self.command == "POST":
                params.update(urllib.parse.parse_qs(
                    body.decode("utf-8", "replace"), keep_blank_values=True))
            if "Action" in params:
                return self.sts(params)
            if self.command == "POST" and self.headers.get("Authorization"):
                return self.aws_error(400, "UnknownOperationException", "",
                                      "ecr")
        self.reply(404, json.dumps({"message": "no such endpoint"}),
                   role="none")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = \
        lambda self: self.dispatch()

    # ECR
    def aws_error(self, status, code, message, role, detail=()):
        STATE.count("gat_err") if role.startswith("ecr") else None
        with STATE.lock:
            STATE.c["errors"][code] = STATE.c["errors"].get(code, 0) + 1
        body = json.dumps({"__type": code, "message": message})
        self.send_response(status)
        self.send_header("Content-Type", ECR_JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-ErrorType", code + ":")
        self.send_header("x-amzn-RequestId", str(secrets.token_hex(16)))
        self.end_headers()
        self.wfile.write(body.encode())
        log("%s %s %d %s %s" % (self.command, self.path, status, role, code),
            detail)

    def ecr(self, body):
        target = self.headers.get("X-Amz-Target", "")
        public = target == ECR_PUBLIC_TARGET
        role = "ecr-public" if public else "ecr"
        STATE.count("gat")
        if public:
            STATE.count("ecr_public")
        if target not in (ECR_TARGET, ECR_PUBLIC_TARGET):
            return self.aws_error(400, "UnknownOperationException", "", role)
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != ECR_JSON:
            return self.aws_error(400, "SerializationException",
                                  "Content-Type must be %s" % ECR_JSON, role)
        try:
            rec, scope, _, _ = sigv4_verify(self.command, self.path,
                                            self.header_list(), body,
                                            STATE.lookup, time.time())
        except SigError as e:
            status = 400
            return self.aws_error(status, e.code, e.message, role, e.detail)
        service, region = scope[3], scope[2]
        with STATE.lock:
            STATE.c["last_region"] = region
            STATE.c["last_service"] = service
        if service != ("ecr-public" if public else "ecr"):
            return self.aws_error(
                400, "InvalidSignatureException",
                "Credential should be scoped to correct service: '%s'."
                % ("ecr-public" if public else "ecr"), role)
        if public and region != "us-east-1":
            return self.aws_error(
                400, "InvalidSignatureException",
                "Credential should be scoped to a valid region.", role)
        try:
            json.loads(body.decode("utf-8") or "{}")
        except ValueError:
            return self.aws_error(400, "SerializationException",
                                  "Start of structure or map found where "
                                  "not expected.", role)
        with STATE.lock:
            end = time.time() + 120
            STATE.held += 1
            while STATE.hold and time.time() < end:
                STATE.cond.wait(1)
            STATE.held -= 1
            if STATE.throttle:
                if STATE.throttle > 0:
                    STATE.throttle -= 1
                throttled = True
            else:
                throttled = False
        if throttled:
            return self.aws_error(400, "ThrottlingException",
                                  "Rate exceeded", role)
        with STATE.lock:
            expires = int(time.time()) + STATE.token_ttl
            if public and STATE.args.public_password:
                pw = STATE.args.public_password
            else:
                pw = STATE.password
                STATE.issued.append((pw, expires))
            STATE.c["gat_ok"] += 1
            kind = rec["kind"]
            STATE.c["gat_by_kind"][kind] = \
                STATE.c["gat_by_kind"].get(kind, 0) + 1
            kid = self.headers.get("Authorization").split("Credential=")[1] \
                .split("/")[0]
            STATE.c["gat_by_key"][kid] = STATE.c["gat_by_key"].get(kid, 0) + 1
        token = base64.b64encode(("AWS:" + pw).encode()).decode()
        if public:
            data = {"authorizationData": {"authorizationToken": token,
                                          "expiresAt": expires}}
        else:
            data = {"authorizationData": [{
                "authorizationToken": token, "expiresAt": expires,
                "proxyEndpoint": "https://%s.dkr.ecr.%s.amazonaws.com" % (
                    STATE.args.account, region)}]}
        self.reply(200, json.dumps(data), ECR_JSON, role=role,
                   note="key=%s kind=%s region=%s" % (kid, kind, region))

    # STS
    def sts_error(self, status, code, message):
        STATE.count("sts_err")
        body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/'
                '2011-06-15/">\n  <Error>\n    <Type>Sender</Type>\n'
                '    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n'
                '  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
                % (code, xml_escape(message), secrets.token_hex(16)))
        self.reply(status, body, "text/xml", role="sts", note=code)

    def sts(self, params):
        STATE.count("sts")
        one = {k: v[-1] for k, v in params.items()}
        if one.get("Action") != "AssumeRoleWithWebIdentity":
            return self.sts_error(400, "InvalidAction",
                                  "Could not find operation %s for version "
                                  "2011-06-15" % one.get("Action"))
        for need in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not one.get(need):
                return self.sts_error(
                    400, "ValidationError",
                    "1 validation error detected: Value null at '%s' failed "
                    "to satisfy constraint: Member must not be null"
                    % (need[0].lower() + need[1:]))
        if not re.match(r"^[\w+=,.@-]{2,64}$", one["RoleSessionName"]):
            return self.sts_error(400, "ValidationError",
                                  "1 validation error detected: Value at "
                                  "'roleSessionName' failed to satisfy "
                                  "constraint")
        want = None
        if STATE.args.web_identity_token_file:
            try:
                with open(STATE.args.web_identity_token_file) as f:
                    want = f.read().strip()
            except OSError:
                want = None
        if want is None or not hmac.compare_digest(
                one["WebIdentityToken"].strip().encode(), want.encode()):
            return self.sts_error(400, "InvalidIdentityToken",
                                  "Couldn't retrieve verification key from "
                                  "your identity provider, please reference "
                                  "AssumeRoleWithWebIdentity documentation "
                                  "for requirements")
        if one["RoleArn"] != STATE.args.role_arn:
            return self.sts_error(403, "AccessDenied",
                                  "Not authorized to perform "
                                  "sts:AssumeRoleWithWebIdentity")
        kid, secret, token, expires = STATE.issue_creds("sts")
        role_name = one["RoleArn"].rsplit("/", 1)[-1]
        body = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROA{rid}:{sess}</AssumedRoleId>
      <Arn>arn:aws:sts::{acct}:assumed-role/{role}/{sess}</Arn>
    </AssumedRoleUser>
    <Provider>arn:aws:iam::{acct}:oidc-provider/oidc.example</Provider>
    <Credentials>
      <AccessKeyId>{kid}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{exp}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>system:serviceaccount:depot:depot</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>{req}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
""".format(rid="EXAMPLEROLEID", sess=xml_escape(one["RoleSessionName"]),
           acct=STATE.args.account, role=xml_escape(role_name), kid=kid,
           secret=secret, token=xml_escape(token), exp=_iso(expires),
           req=secrets.token_hex(16))
        self.reply(200, body, "text/xml", role="sts", note="key=" + kid)

    # container credentials
    def container(self):
        if self.command != "GET":
            STATE.count("container_err")
            return self.reply(405, json.dumps({"message": "GET only"}),
                              role="container", note="method")
        got = self.headers.get("Authorization")
        if got is None:
            STATE.count("container_err")
            return self.reply(401, json.dumps(
                {"message": "Authorization header is missing"}),
                role="container", note="no-authorization")
        if not STATE.args.container_token or not hmac.compare_digest(
                got.encode(), STATE.args.container_token.encode()):
            STATE.count("container_err")
            return self.reply(403, json.dumps(
                {"message": "Authorization token is invalid"}),
                role="container", note="wrong-authorization")
        STATE.count("container")
        kid, secret, token, expires = STATE.issue_creds("container")
        self.reply(200, json.dumps({
            "AccessKeyId": kid, "SecretAccessKey": secret, "Token": token,
            "Expiration": _iso(expires),
            "RoleArn": "arn:aws:iam::%s:role/depot-task" % STATE.args.account,
        }), role="container", note="key=" + kid)

    # IMDSv2
    def imds(self, path):
        if path == "/latest/api/token":
            if self.command != "PUT":
                STATE.count("imds_err")
                return self.reply(405, "", "text/plain", role="imds",
                                  note="token-not-put")
            if self.headers.get("X-Forwarded-For"):
                STATE.count("imds_err")
                return self.reply(403, "", "text/plain", role="imds",
                                  note="forwarded")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                STATE.count("imds_err")
                return self.reply(400, "", "text/plain", role="imds",
                                  note="bad-ttl")
            tok = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()
            with STATE.lock:
                STATE.imds_tokens[tok] = time.time() + int(ttl)
            STATE.count("imds_token")
            return self.reply(200, tok, "text/plain", role="imds",
                              extra={"X-aws-ec2-metadata-token-ttl-seconds":
                                     ttl}, note="token")
        if self.command not in ("GET", "HEAD"):
            STATE.count("imds_err")
            return self.reply(405, "", "text/plain", role="imds")
        tok = self.headers.get("X-aws-ec2-metadata-token")
        with STATE.lock:
            exp = STATE.imds_tokens.get(tok or "")
        if exp is None or exp <= time.time():
            STATE.count("imds_err")
            return self.reply(401, "", "text/plain", role="imds",
                              note="no-token" if tok is None
                              else "bad-token")
        base = "/latest/meta-data/iam/security-credentials/"
        role = STATE.args.imds_role
        if path == base or path == base[:-1]:
            return self.reply(200, role, "text/plain", role="imds",
                              note="role")
        if path == base + role:
            STATE.count("imds_creds")
            kid, secret, token, expires = STATE.issue_creds("imds")
            return self.reply(200, json.dumps({
                "Code": "Success", "LastUpdated": _iso(time.time()),
                "Type": "AWS-HMAC", "AccessKeyId": kid,
                "SecretAccessKey": secret, "Token": token,
                "Expiration": _iso(expires)}, indent=2), "text/plain",
                role="imds", note="key=" + kid)
        return self.reply(404, "", "text/plain", role="imds")

    # registry front
    def basic_password(self):
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, pw = base64.b64decode(auth[6:].strip()).decode() \
                .partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return pw if user == "AWS" else None

    def registry_conn(self):
        u = urllib.parse.urlsplit(STATE.args.registry)
        return http.client.HTTPConnection(u.hostname, u.port or 80,
                                          timeout=60), u.netloc

    def registry(self, path, query):
        if not STATE.args.registry:
            return self.reply(404, json.dumps({"message": "no registry"}),
                              role="registry")
        body = self.read_body() if self.headers.get("Content-Length") or \
            self.headers.get("Transfer-Encoding") else None
        pw = self.basic_password()
        if pw is not None and STATE.password_state(pw) == "expired":
            STATE.count("denied_expired")
            return self.reply(403, json.dumps({"errors": [{
                "code": "DENIED",
                "message": "Your authorization token has expired. "
                           "Reauthenticate and try again."}]}),
                role="registry", note="expired-token")
        m = BLOB_RE.match(path)
        if m and self.command == "GET" and STATE.redirect:
            status, headers = self.forward("HEAD", self.path, None,
                                           stream=False)
            if status == 200:
                return self.redirect_s3(m.group(1), m.group(2))
            return
        self.forward(self.command, self.path, body)

    def forward(self, method, target, body, stream=True):
        """Forward to the registry; write its answer. Returns (status,
        headers). stream=False: only answers that are not 200 are
        written (the caller answers a 200)."""
        STATE.count("registry")
        conn, netloc = self.registry_conn()
        try:
            conn.putrequest(method, target, skip_host=True,
                            skip_accept_encoding=True)
            conn.putheader("Host", netloc)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP and \
                        k.lower() != "content-length":
                    conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
        except OSError as e:
            self.reply(502, json.dumps({"message": str(e)}), role="registry")
            return 502, {}
        if not stream and resp.status == 200:
            resp.read()
            conn.close()
            return 200, dict(resp.getheaders())
        self.send_response(resp.status)
        length = resp.getheader("Content-Length")
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                continue
            if k.lower() == "location":
                v = v.replace("http://" + netloc, "http://" + self.headers.get(
                    "Host", netloc))
            self.send_header(k, v)
        if self.command == "HEAD" or method == "HEAD":
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            resp.read()
        elif length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            self.copy(resp)
        else:
            data = resp.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        conn.close()
        log("%s %s %d registry" % (self.command, target.split("?")[0],
                                   resp.status))
        return resp.status, dict(resp.getheaders())

    def copy(self, resp):
        while True:
            chunk = resp.read(CHUNK)
            if not chunk:
                break
            self.wfile.write(chunk)

    def s3_sign(self, path, expires):
        return hmac.new(STATE.s3_secret, ("%s\n%d" % (path, expires)).encode(),
                        hashlib.sha256).hexdigest()

    def redirect_s3(self, repo, digest):
        STATE.count("redirects")
        path = "/_s3/prod-us-east-1-starport-layer-bucket/%s/%s" % (
            urllib.parse.quote(repo, safe="/"), digest)
        expires = int(time.time()) + 3600
        now = _amz(time.time())
        q = urllib.parse.urlencode([
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "ASIASTARPORTEXAMPLE/%s/us-east-1/s3/"
                                 "aws4_request" % now[:8]),
            ("X-Amz-Date", now),
            ("X-Amz-Expires", "3600"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", self.s3_sign(path, expires)),
            ("x-id", "GetObject"),
            ("exp", str(expires)),
        ])
        if STATE.s3_origin:
            origin = STATE.s3_origin
        else:
            origin = "http://localhost:%d" % self.server.server_address[1]
        self.reply(307, "", "text/plain",
                   extra={"Location": "%s%s?%s" % (origin, path, q)},
                   role="registry", note="redirect-s3")

    def s3_error(self, status, code, message, extra=""):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s'
                '</Code><Message>%s</Message>%s<RequestId>%s</RequestId>'
                '<HostId>stub</HostId></Error>'
                % (code, xml_escape(message), extra,
                   secrets.token_hex(8).upper()))
        self.reply(status, body, "application/xml", role="s3", note=code)

    def s3(self, path, query):
        if self.headers.get("Authorization") is not None:
            STATE.count("s3_with_auth")
            return self.s3_error(
                400, "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm "
                "query parameter, Signature query string parameter or the "
                "Authorization header should be specified",
                "<ArgumentName>Authorization</ArgumentName><ArgumentValue>"
                "</ArgumentValue>")
        STATE.count("s3_without_auth")
        if self.command not in ("GET", "HEAD"):
            return self.s3_error(405, "MethodNotAllowed",
                                 "The specified method is not allowed "
                                 "against this resource.")
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(
            query, keep_blank_values=True).items()}
        try:
            expires = int(q.get("exp", ""))
        except ValueError:
            expires = -1
        if not hmac.compare_digest(self.s3_sign(path, expires),
                                   q.get("X-Amz-Signature", "")):
            return self.s3_error(403, "SignatureDoesNotMatch",
                                 "The request signature we calculated does "
                                 "not match the signature you provided.")
        if expires < time.time():
            return self.s3_error(403, "AccessDenied", "Request has expired")
        rest = path[len("/_s3/"):].split("/", 1)[1]
        repo, _, digest = rest.rpartition("/")
        conn, netloc = self.registry_conn()
        with STATE.lock:
            pw = STATE.password
        hdrs = {"Host": netloc, "Authorization": "Basic " + base64.b64encode(
            ("AWS:" + pw).encode()).decode()}
        if self.headers.get("Range"):
            hdrs["Range"] = self.headers["Range"]
        try:
            conn.request("GET", "/v2/%s/blobs/%s" % (repo, digest),
                         headers=hdrs)
            resp = conn.getresponse()
        except OSError as e:
            return self.s3_error(503, "ServiceUnavailable", str(e))
        if resp.status not in (200, 206):
            resp.read()
            conn.close()
            return self.s3_error(404, "NoSuchKey",
                                 "The specified key does not exist.")
        STATE.count("s3_served")
        self.send_response(resp.status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", resp.getheader("Content-Length"))
        self.send_header("ETag", '"%s"' % digest.split(":")[-1][:32])
        self.send_header("Accept-Ranges", "bytes")
        if resp.getheader("Content-Range"):
            self.send_header("Content-Range", resp.getheader("Content-Range"))
        self.end_headers()
        if self.command == "GET":
            self.copy(resp)
        else:
            resp.read()
        conn.close()
        log("%s %s %d s3 served" % (self.command, path, resp.status))

    # control
    def control(self, path, query):
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if self.command == "POST":
            q.update(urllib.parse.parse_qsl(
                self.read_body().decode("utf-8", "replace")))
        what = path[len("/_control/"):]
        if what == "state":
            pass
        elif what == "set":
            try:
                with STATE.lock:
                    for k, v in q.items():
                        if k == "token_ttl":
                            STATE.token_ttl = int(v)
                        elif k == "creds_ttl":
                            STATE.creds_ttl = int(v)
                        elif k == "throttle":
                            STATE.throttle = {"on": -1, "off": 0}.get(v)
                            if STATE.throttle is None:
                                STATE.throttle = int(v)
                        elif k == "redirect":
                            STATE.redirect = v in ("on", "1", "true")
                        elif k == "hold":
                            STATE.hold = v in ("on", "1", "true")
                            STATE.cond.notify_all()
                        else:
                            raise ValueError("unknown setting " + k)
            except ValueError as e:
                return self.reply(400, json.dumps({"error": str(e)}),
                                  role="control")
        elif what == "revoke":
            with STATE.lock:
                STATE.password = STATE.random_password()
                STATE.generation += 1
                STATE.c["revocations"] += 1
                if STATE.args.htpasswd:
                    STATE.write_htpasswd()
        elif what == "reset":
            with STATE.lock:
                STATE.reset()
        elif what == "wait_expired":
            st = STATE.snapshot()
            return self.reply(200 if st["tokens_expired"] else 409,
                              json.dumps(st), role="control", note=what)
        else:
            return self.reply(404, json.dumps({"error": "unknown control"}),
                              role="control")
        self.reply(200, json.dumps(STATE.snapshot(), indent=1),
                   role="control", note=what)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(host, port, fd, is_s3=False):
    if fd is not None:
        srv = Server((host, 0), Handler, bind_and_activate=False)
        srv.socket.close()
        srv.socket = socket.socket(fileno=fd)
        srv.server_address = srv.socket.getsockname()[:2]
        try:
            srv.socket.listen(128)
        except OSError:
            pass
    else:
        srv = Server((host, port), Handler)
    srv.is_s3 = is_s3
    return srv


def main():
    global STATE
    p = argparse.ArgumentParser(description="AWS stand-ins for ECR tests")
    p.add_argument("--self-test", metavar="DIR")
    p.add_argument("--port", type=int)
    p.add_argument("--fd", type=int)
    p.add_argument("--s3-port", type=int)
    p.add_argument("--s3-fd", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--log")
    p.add_argument("--key", action="append", default=[])
    p.add_argument("--registry")
    p.add_argument("--htpasswd")
    p.add_argument("--password")
    p.add_argument("--account", default="123456789012")
    p.add_argument("--public-password")
    p.add_argument("--token-ttl", type=int, default=43200)
    p.add_argument("--creds-ttl", type=int, default=3600)
    p.add_argument("--redirect", action="store_true")
    p.add_argument("--web-identity-token-file")
    p.add_argument("--role-arn",
                   default="arn:aws:iam::123456789012:role/depot-pull")
    p.add_argument("--container-path", default="/v1/credentials")
    p.add_argument("--container-token")
    p.add_argument("--imds-role", default="depot-instance")
    args = p.parse_args()
    if args.self_test:
        sys.exit(self_test(args.self_test))
    if (args.port is None) == (args.fd is None):
        p.error("give one of --port and --fd")
    STATE = State(args)
    srv = make_server(args.host, args.port, args.fd)
    STATE.s3_origin = None
    servers = [srv]
    if args.s3_port is not None or args.s3_fd is not None:
        s3 = make_server(args.host, args.s3_port, args.s3_fd, is_s3=True)
        STATE.s3_origin = "http://%s:%d" % (args.host, s3.server_address[1])
        servers.append(s3)
    print("listening on %s:%d" % srv.server_address[:2], flush=True)
    if len(servers) > 1:
        print("s3 listening on %s:%d" % servers[1].server_address[:2],
              flush=True)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
