#!/usr/bin/env python3
"""fault_proxy.py: a reverse proxy that makes a registry misbehave on demand.

Stands between depot and an upstream registry (Debian's docker-registry in
the tests) and forwards every request to TARGET_URL, headers and bodies
streamed both ways, until told to misbehave:

  pass     forward faithfully (the default)
  corrupt  flip one byte in the middle of blob bodies (length unchanged)
  reset    send the headers and about half of a blob body, then reset the
           connection (SO_LINGER 0 and close)
  slow     throttle blob bodies to RATE bytes per second
  slowcorrupt  both: throttled to RATE and one byte flipped
  stall    send the first 4096 bytes of blob bodies at once, then RATE
           bytes a second (rate=4: a transfer that never quite stops)
  lie      answer HEAD of any blob 200 (Content-Length 1048576) without
           forwarding it, as an upstream would that claims every digest;
           GETs are forwarded
  nolength forward blob bodies without their Content-Length (chunked to
           HTTP/1.1 clients), as an upstream would whose size is unknown
  status   answer manifest requests with status CODE (and a Retry-After
           header when asked) without forwarding them

"Blob bodies" are the bodies of 200 and 206 answers to requests for
/v2/.../blobs/<digest> (uploads are never touched). A match regex narrows
the requests a mode applies to (searched in the request path).

Control requests, never forwarded (GET, answered with the new state as
JSON):

  /__fault/mode?m=MODE[&rate=10M][&code=429][&retry_after=60][&match=RE]
  /__fault/ratelimit?remaining=N[&limit=100]   add Docker Hub's headers
        "ratelimit-limit: 100;w=21600" and "ratelimit-remaining: N;w=21600"
        to every forwarded answer; remaining=off stops that
  /__fault/state

Every request received is logged to --log as one line
"METHOD TARGET STATUS[ NOTE]" (NOTE: corrupt, reset, slow, status),
written when the status is known.

  fault_proxy.py [--log FILE] [--mode MODE] [--rate R] [--code N]
                 [--retry-after S] [--match RE] PORT TARGET_URL

PORT 0 picks a free port. Once listening, the proxy prints
"listening on 127.0.0.1:PORT" on stdout. Only the Python standard library
is used.
"""

import argparse
import http.client
import http.server
import json
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

CHUNK = 65536
MODES = ("pass", "corrupt", "reset", "slow", "slowcorrupt", "stall", "lie",
         "nolength", "status")
STALL_FIRST = 4096
LIE_LENGTH = 1048576
BLOB_RE = re.compile(r"/v2/.+/blobs/[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+$")
MANIFEST_RE = re.compile(r"/v2/.+/manifests/[^/]+$")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "expect",
}
ERROR_CODES = {
    400: "MANIFEST_INVALID", 401: "UNAUTHORIZED", 403: "DENIED",
    404: "MANIFEST_UNKNOWN", 405: "UNSUPPORTED", 429: "TOOMANYREQUESTS",
}


def parse_rate(text):
    """'10M', '512k', '1000' -> bytes per second (int, > 0)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", text or "")
    if not m:
        raise ValueError("bad rate %r" % text)
    mult = {"": 1, "k": 1000, "m": 1000 * 1000, "g": 1000 * 1000 * 1000}
    rate = int(m.group(1)) * mult[m.group(2).lower()]
    if rate <= 0:
        raise ValueError("rate must be positive")
    return rate


class State:
    """The proxy's run-time settings, shared by all request threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "pass"
        self.rate = 10 * 1000 * 1000
        self.code = 429
        self.retry_after = None
        self.match = None
        self.rl_limit = 100
        self.rl_remaining = None

    def set_mode(self, mode, rate=None, code=None, retry_after=None,
                 match=None):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        rx = re.compile(match) if match else None
        r = parse_rate(rate) if rate else 10 * 1000 * 1000
        c = int(code) if code else 429
        if c < 200 or c > 599:
            raise ValueError("bad status %r" % code)
        ra = None
        if retry_after not in (None, ""):
            ra = str(int(retry_after))
        with self.lock:
            self.mode, self.rate, self.code = mode, r, c
            self.retry_after, self.match = ra, rx

    def set_ratelimit(self, remaining, limit=None):
        with self.lock:
            if remaining in (None, "", "off"):
                self.rl_remaining = None
            else:
                self.rl_remaining = int(remaining)
            if limit:
                self.rl_limit = int(limit)

    def snapshot(self):
        with self.lock:
            return {
                "mode": self.mode, "rate": self.rate, "code": self.code,
                "retry_after": self.retry_after,
                "match": self.match.pattern if self.match else None,
                "ratelimit_limit": self.rl_limit,
                "ratelimit_remaining": self.rl_remaining,
            }


class Log:
    """One line per request, flushed at once so tests can count."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, method, target, status, note=""):
        line = "%s %s %s%s\n" % (method, target, status,
                                 " " + note if note else "")
        with self.lock:
            if self.f:
                self.f.write(line)
                self.f.flush()


class Reset(Exception):
    """The client connection was reset on purpose."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault_proxy"

    def log_message(self, fmt, *args):
        pass

    # Every method goes through forward(); HEAD has no body either way.
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/__fault/"):
            self.control(path)
            return
        st = self.server.state.snapshot()
        applies = st["match"] is None or re.search(st["match"], path)
        if (st["mode"] == "status" and applies and
                MANIFEST_RE.search(path)):
            self.drain_request_body()
            self.answer_status(st)
            return
        mode = st["mode"] if applies and BLOB_RE.search(path) else "pass"
        if mode == "lie" and self.command == "HEAD":
            self.drain_request_body()
            self.answer_lie(path)
            return
        if mode == "lie":
            mode = "pass"
        try:
            self.forward(mode, st)
        except Reset:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # --- control

    def control(self, path):
        q = dict(urllib.parse.parse_qsl(
            urllib.parse.urlsplit(self.path).query, keep_blank_values=True))
        state = self.server.state
        status = 200
        try:
            if path == "/__fault/mode":
                state.set_mode(q.get("m", "pass"), q.get("rate"),
                               q.get("code"), q.get("retry_after"),
                               q.get("match"))
            elif path == "/__fault/ratelimit":
                state.set_ratelimit(q.get("remaining"), q.get("limit"))
            elif path != "/__fault/state":
                status = 404
        except (ValueError, re.error) as e:
            status = 400
            body = json.dumps({"error": str(e)}).encode() + b"\n"
        if status == 200:
            body = json.dumps(state.snapshot()).encode() + b"\n"
        elif status == 404:
            body = b'{"error": "unknown control path"}\n'
        self.drain_request_body()
        self.server.log.write(self.command, self.path, status)
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # --- status mode

    def answer_status(self, st):
        code = st["code"]
        err = ERROR_CODES.get(code, "UNAVAILABLE" if code >= 500 else
                              "UNKNOWN")
        body = json.dumps({"errors": [{
            "code": err, "message": "injected status %d" % code,
            "detail": None}]}).encode() + b"\n"
        self.server.log.write(self.command, self.path, code, "status")
        self.send_response_only(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if st["retry_after"] is not None:
            self.send_header("Retry-After", st["retry_after"])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # --- lie mode

    def answer_lie(self, path):
        self.server.log.write(self.command, self.path, 200, "lie")
        self.send_response_only(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(LIE_LENGTH))
        self.send_header("Docker-Content-Digest", path.rsplit("/", 1)[1])
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()

    # --- request bodies

    def request_body(self):
        """Yield the client's request body in pieces (decoded if chunked);
        None when there is none."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return self.read_chunked()
        n = self.headers.get("Content-Length")
        if n is None:
            return None
        return self.read_length(int(n))

    def read_length(self, n):
        while n > 0:
            data = self.rfile.read(min(n, CHUNK))
            if not data:
                raise ConnectionResetError("client body cut short")
            n -= len(data)
            yield data

    def read_chunked(self):
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionResetError("client body cut short")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers, up to the empty line.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield from self.read_length(size)
            self.rfile.readline(16)

    def drain_request_body(self):
        body = self.request_body()
        if body is not None:
            for _ in body:
                pass

    # --- forwarding

    def upstream_conn(self):
        t = self.server.target
        cls = (http.client.HTTPSConnection if t.scheme == "https"
               else http.client.HTTPConnection)
        return cls(t.hostname, t.port, timeout=self.server.timeout_s)

    def forward(self, mode, st):
        target = self.server.target
        body = self.request_body()
        conn = self.upstream_conn()
        try:
            conn.putrequest(self.command, target.path.rstrip("/") + self.path,
                            skip_host=True, skip_accept_encoding=True)
            chunked = False
            for k, v in self.headers.items():
                lk = k.lower()
                if lk in HOP_BY_HOP:
                    continue
                conn.putheader(k, v)
            if body is not None and "Content-Length" not in self.headers:
                conn.putheader("Transfer-Encoding", "chunked")
                chunked = True
            conn.putheader("Connection", "close")
            conn.endheaders()
            if body is not None:
                for piece in body:
                    if chunked:
                        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    else:
                        conn.send(piece)
                if chunked:
                    conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            self.bad_gateway(e)
            return
        try:
            self.relay(resp, mode, st)
        finally:
            conn.close()

    def bad_gateway(self, err):
        body = json.dumps({"errors": [{
            "code": "UNAVAILABLE", "message": "fault_proxy: upstream: %s" %
            err, "detail": None}]}).encode() + b"\n"
        self.server.log.write(self.command, self.path, 502)
        self.send_response_only(502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def relay(self, resp, mode, st):
        has_body = (self.command != "HEAD" and resp.status >= 200 and
                    resp.status not in (204, 304))
        length = resp.getheader("Content-Length")
        length = int(length) if length is not None and has_body else None
        if not has_body or resp.status not in (200, 206):
            mode = "pass"
        note = "" if mode == "pass" else mode
        self.server.log.write(self.command, self.path, resp.status, note)

        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP:
                continue
            if mode == "nolength" and k.lower() == "content-length":
                continue
            self.send_header(k, v)
        if st["ratelimit_remaining"] is not None:
            self.send_header("ratelimit-limit",
                             "%d;w=21600" % st["ratelimit_limit"])
            self.send_header("ratelimit-remaining",
                             "%d;w=21600" % st["ratelimit_remaining"])
        out_chunked = False
        if has_body and (length is None or mode == "nolength"):
            # Unknown length: chunked to HTTP/1.1 clients, else EOF.
            if self.request_version == "HTTP/1.1":
                self.send_header("Transfer-Encoding", "chunked")
                out_chunked = True
            else:
                self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not has_body:
            return

        middle = length // 2 if length is not None else None
        sent = 0
        start = time.monotonic()
        while True:
            if mode == "reset" and length is not None and sent >= middle:
                self.reset()
            want = CHUNK
            if mode in ("reset", "corrupt", "slowcorrupt") and \
                    middle is not None and sent < middle:
                want = min(CHUNK, max(1, middle - sent))
            if mode == "stall":
                want = STALL_FIRST if sent == 0 else st["rate"]
            data = resp.read(want)
            if not data:
                break
            if mode in ("corrupt", "slowcorrupt") and middle is not None and \
                    sent <= middle < sent + len(data):
                i = middle - sent
                data = data[:i] + bytes([data[i] ^ 0xff]) + data[i + 1:]
            if out_chunked:
                self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                self.wfile.write(data)
            sent += len(data)
            if mode == "stall":
                time.sleep(1)
            if mode in ("slow", "slowcorrupt"):
                ahead = sent / st["rate"] - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        if mode == "reset":
            # No length known: reset at the end instead of the middle.
            self.reset()
        if out_chunked:
            self.wfile.write(b"0\r\n\r\n")
        if length is not None and sent != length:
            self.close_connection = True

    def reset(self):
        """Abort the client connection with a TCP RST."""
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.rfile.close()
        except OSError:
            pass
        sock.close()
        raise Reset()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client going away mid-answer is normal here; stay quiet.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, Reset)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(
        description="Reverse proxy injecting faults in front of a registry.")
    p.add_argument("port", type=int, help="port on 127.0.0.1 (0: any)")
    p.add_argument("target", help="base URL of the registry, http://h:p")
    p.add_argument("--log", help="file to log one line per request to")
    p.add_argument("--mode", default="pass", choices=MODES)
    p.add_argument("--rate", default="10M", help="slow mode, bytes/s")
    p.add_argument("--code", default="429", help="status mode status")
    p.add_argument("--retry-after", default=None)
    p.add_argument("--match", default=None, help="path regex for the mode")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait on the target")
    args = p.parse_args()

    target = urllib.parse.urlsplit(args.target)
    if target.scheme not in ("http", "https") or not target.hostname:
        p.error("TARGET_URL must be http://host:port[/prefix]")
    state = State()
    try:
        state.set_mode(args.mode, args.rate, args.code, args.retry_after,
                       args.match)
    except (ValueError, re.error) as e:
        p.error(str(e))

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = state
    srv.log = Log(args.log)
    srv.target = target
    srv.timeout_s = args.timeout
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()


if __name__ == "__main__":
    main()
