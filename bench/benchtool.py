#!/usr/bin/env python3
"""benchtool.py: the small helpers of bench/suite (python3 stdlib only).

  benchtool.py blob OUT SIZE SEED
      write SIZE bytes of random data derived from SEED to OUT (the same
      arguments always give the same bytes); print its sha256 digest.
  benchtool.py push BASE REPO FILE DIGEST [--chunks N]
      upload FILE as a blob of REPO to the registry at BASE (http://host:port)
      over the OCI distribution API: POST a session, then one PUT with the
      whole body, or N PATCHes with Content-Range and a PUT without body.
      Prints the seconds it took.
  benchtool.py push-loop BASE REPO FILE DIGEST CHUNKS STOPFILE
      push again and again until STOPFILE exists; print the pushes
      finished and the bytes they sent.
  benchtool.py report RESULTS GOALS-OUT MD PLOTDATA
      read the key=value results, print the table of ratios with goals and
      marks, and rewrite the generated part of MD; write PLOTDATA for
      gnuplot.
"""

import hashlib
import http.client
import os
import random
import sys
import time
import urllib.parse

CHUNK = 1 << 20


def cmd_blob(out, size, seed):
    rnd = random.Random(seed)
    h = hashlib.sha256()
    left = int(size)
    with open(out, "wb") as f:
        while left > 0:
            n = min(left, 8 * CHUNK)
            b = rnd.randbytes(n)
            h.update(b)
            f.write(b)
            left -= n
    print("sha256:" + h.hexdigest())


class Conn:
    """One keep-alive connection to BASE; follows relative Locations."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host = u.hostname
        self.port = u.port
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def req(self, method, url, body=None, headers=None, length=None):
        u = urllib.parse.urlsplit(url)
        path = u.path + ("?" + u.query if u.query else "")
        h = dict(headers or {})
        if body is None:
            h["Content-Length"] = "0"
            self.c.request(method, path, headers=h)
        else:
            h["Content-Length"] = str(length)
            self.c.putrequest(method, path, skip_accept_encoding=True)
            for k, v in h.items():
                self.c.putheader(k, v)
            self.c.endheaders()
            left = length
            while left > 0:
                b = body.read(min(left, CHUNK))
                if not b:
                    raise SystemExit("short read of the blob file")
                self.c.send(b)
                left -= len(b)
        r = self.c.getresponse()
        data = r.read()
        return r.status, r.getheader("Location"), data


def with_digest(loc, digest):
    sep = "&" if "?" in loc else "?"
    return loc + sep + "digest=" + urllib.parse.quote(digest)


def push_once(base, repo, path, digest, chunks):
    size = os.path.getsize(path)
    c = Conn(base)
    st, loc, data = c.req("POST", "/v2/%s/blobs/uploads/" % repo)
    if st != 202 or not loc:
        raise SystemExit("POST upload: status %d %r" % (st, data[:200]))
    with open(path, "rb") as f:
        if chunks <= 1:
            st, loc, data = c.req("PUT", with_digest(loc, digest), f,
                                  {"Content-Type": "application/octet-stream"},
                                  size)
        else:
            step = -(-size // chunks)
            off = 0
            while off < size:
                n = min(step, size - off)
                st, loc2, data = c.req(
                    "PATCH", loc, f,
                    {"Content-Type": "application/octet-stream",
                     "Content-Range": "%d-%d" % (off, off + n - 1)}, n)
                if st != 202:
                    raise SystemExit("PATCH: status %d %r" % (st, data[:200]))
                loc = loc2 or loc
                off += n
            st, loc, data = c.req("PUT", with_digest(loc, digest))
    if st != 201:
        raise SystemExit("PUT: status %d %r" % (st, data[:200]))
    return size


def cmd_push(base, repo, path, digest, chunks=1):
    t0 = time.monotonic()
    push_once(base, repo, path, digest, int(chunks))
    print("%.3f" % (time.monotonic() - t0))


def cmd_push_loop(base, repo, path, digest, chunks, stopfile):
    n = 0
    sent = 0
    t0 = time.monotonic()
    while not os.path.exists(stopfile):
        sent += push_once(base, repo, path, digest, int(chunks))
        n += 1
    print("pushes=%d bytes=%d seconds=%.3f" % (n, sent, time.monotonic() - t0))


# ---------------------------------------------------------------- report

def load(path):
    r = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            k, _, v = line.partition("=")
            r[k.strip()] = v.strip()
    return r


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None


def div(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


class Table:
    def __init__(self):
        self.rows = []

    def add(self, item, what, value, unit, goal, ok):
        """ok: True (pass), False (miss), None (no figure)."""
        if value is None:
            shown = "n/a"
            mark = "n/a" if goal != "-" else ""
        else:
            shown = ("%.2f" % value) if unit == "x" else fmt_unit(value, unit)
            mark = "" if ok is None else ("pass" if ok else "MISS")
        self.rows.append((item, what, shown, goal, mark))

    def ratio(self, item, what, a, b, goal_min=None, goal_max=None):
        v = div(a, b)
        if goal_min is not None:
            goal, ok = ">= %gx" % goal_min, (None if v is None else v >= goal_min)
        elif goal_max is not None:
            goal, ok = "<= %gx" % goal_max, (None if v is None else v <= goal_max)
        else:
            goal, ok = "-", None
        self.add(item, what, v, "x", goal, ok)

    def text(self):
        w = [max(len(str(row[i])) for row in self.rows + [HEAD])
             for i in range(5)]
        out = []
        for row in [HEAD] + self.rows:
            out.append("%-*s  %-*s  %*s  %-*s  %s" % (
                w[0], row[0], w[1], row[1], w[2], row[2], w[3], row[3],
                row[4]))
        return "\n".join(out) + "\n"


HEAD = ("#", "measure (ratio of figures from this run)", "value", "goal",
        "mark")


def fmt_unit(v, unit):
    if unit == "req/s":
        return "%.0f req/s" % v
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "MB":
        return "%.1f MB" % v
    if unit == "s":
        return "%.2f s" % v
    return "%g %s" % (v, unit)


def build_table(r):
    t = Table()
    g = lambda k: num(r, k)
    # 1. manifests and small blobs, hosted and proxied-warm.
    for kind, label in (("manifest", "manifest GET"),
                        ("blob1k", "1 KB blob GET")):
        for mode, ref, rlabel in (("depot", "reg", "docker-registry"),
                                  ("depotproxy", "regproxy",
                                   "docker-registry proxy")):
            mlabel = "hosted" if mode == "depot" else "proxied-warm"
            v = g("rps.%s.%s.c1" % (kind, mode))
            t.add("1", "%s %s c=1 (keep-alive)" % (label, mlabel), v,
                  "req/s", ">= 15000 req/s", None if v is None else v >= 15000)
            for c in (16, 64):
                a = g("rps.%s.%s.c%d" % (kind, mode, c))
                t.ratio("1", "%s %s c=%d: depot / %s" % (label, mlabel, c,
                                                         rlabel),
                        a, g("rps.%s.%s.c%d" % (kind, ref, c)), goal_min=5)
                t.ratio("1", "%s %s c=%d: depot / nginx 4 KB file"
                        % (label, mlabel, c),
                        a, g("rps.nginx4k.nginx.c%d" % c), goal_min=0.3)
    # 2. big blobs.
    for kind, label, goal in (("blob1m", "1 MB", 0.9), ("blob100m", "100 MB",
                                                        None)):
        for c in (1, 16, 64):
            a = g("bps.%s.depot.c%d" % (kind, c))
            t.ratio("2", "blob %s GET c=%d: depot / nginx sendfile"
                    % (label, c), a, g("bps.%s.nginx.c%d" % (kind, c)),
                    goal_min=goal)
            t.ratio("2", "blob %s GET c=%d: depot / docker-registry"
                    % (label, c), a, g("bps.%s.reg.c%d" % (kind, c)))
    # 3. latency.
    idle = g("p99.idle")
    t.add("3", "manifest GET p99, c=4, idle", idle, "ms", "< 2 ms",
          None if idle is None else idle < 2)
    t.ratio("3", "p99 during a 400 MB chunked push / idle", g("p99.push"),
            idle, goal_max=2)
    t.ratio("3", "p99 during a cold 100 MB pull through the proxy / idle",
            g("p99.pull"), idle, goal_max=2)
    # 4. cold pull (bench/pull-through).
    t.ratio("4", "cold pull 100 MB / 4 layers: depot proxy / direct",
            g("pull.B"), g("pull.A"), goal_max=1.15)
    t.ratio("4", "cold pull: docker-registry proxy / direct", g("pull.D"),
            g("pull.A"))
    t.ratio("4", "cold pull: depot proxy / docker-registry proxy",
            g("pull.B"), g("pull.D"))
    # 5. herd.
    t.ratio("5", "herd of 50 on one cold 100 MB blob: upstream bytes / blob",
            g("herd.upbytes"), g("herd.size"), goal_max=1)
    t.ratio("5", "herd of 50: time / one cold pull of such a blob",
            g("herd.time"), g("herd.one"), goal_max=1.3)
    t.ratio("5", "herd of 50: time / the same 50 on the blob once cached",
            g("herd.time"), g("herd.warm"))
    # 6. push.
    t.ratio("6", "skopeo push 100 MB: docker-registry time / depot time",
            g("push.reg"), g("push.depot"), goal_min=1)
    # 7. memory.
    rss = g("rss.peak")
    t.add("7", "worker RSS peak, 100 MB blobs to 64 clients", rss, "MB",
          "< 32 MB", None if rss is None else rss < 32)
    return t


def raw_lines(r):
    out = []
    for k in sorted(r):
        if k.startswith(("rps.", "bps.", "p99.", "pull.", "herd.", "push.",
                         "rss.", "err.", "note.")):
            v = r[k]
            if k.startswith("bps."):
                try:
                    v = "%.1f MB/s" % (float(v) / 1e6)
                except ValueError:
                    pass
            out.append("%-34s %s" % (k, v))
    return "\n".join(out) + "\n"


BEGIN = "<!-- BEGIN generated by bench/suite: do not edit by hand -->"
END = "<!-- END generated by bench/suite -->"


def cmd_report(results, table_out, md, plotdata):
    r = load(results)
    t = build_table(r)
    text = t.text()
    with open(table_out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    misses = sum(1 for row in t.rows if row[4] == "MISS")
    passes = sum(1 for row in t.rows if row[4] == "pass")
    sys.stdout.write("\n%d pass, %d miss\n" % (passes, misses))

    # Throughput against concurrency, one block per chart, columns:
    # c depot depot-proxy nginx docker-registry registry-proxy
    with open(plotdata, "w") as f:
        for kind, pre, scale in (("manifest", "rps", 1), ("blob1k", "rps", 1),
                                 ("blob1m", "bps", 1e6),
                                 ("blob100m", "bps", 1e6)):
            f.write("# %s\n" % kind)
            for c in (1, 16, 64):
                cols = []
                for who in ("depot", "depotproxy", "nginx", "reg",
                            "regproxy"):
                    k = "%s.%s.%s.c%d" % (pre, kind, who, c)
                    if who == "nginx" and pre == "rps":
                        k = "rps.nginx4k.nginx.c%d" % c
                    v = num(r, k)
                    cols.append("NaN" if v is None else "%.3f" % (v / scale))
                f.write("%d %s\n" % (c, " ".join(cols)))
            f.write("\n\n")

    gen = [BEGIN, "",
           "## Latest run", "",
           "- date: %s" % r.get("meta.date", "?"),
           "- machine: %s" % r.get("meta.machine", "?"),
           "- load average at start / end: %s / %s"
           % (r.get("meta.load_start", "?"), r.get("meta.load_end", "?")),
           "- depot: %s" % r.get("meta.depot", "?"),
           "- tools: %s" % r.get("meta.tools", "?"),
           "- settings: %s" % r.get("meta.settings", "?"),
           "- suite wall time: %s s" % r.get("meta.wall", "?"),
           "",
           "Goals and marks (%d pass, %d miss; n/a: not measured):"
           % (passes, misses), "",
           "```", text.rstrip("\n"), "```", "",
           "![throughput against concurrency](throughput.png)", "",
           "Raw figures (rps: requests/s; bps: bytes/s of body read by wrk; "
           "p99: ms; pull, herd, push: s; rss: MB; err: non-2xx or socket "
           "errors seen by wrk):", "",
           "```", raw_lines(r).rstrip("\n"), "```", "", END]
    old = ""
    if os.path.exists(md):
        with open(md) as f:
            old = f.read()
    if BEGIN in old and END in old:
        head = old.split(BEGIN, 1)[0]
        tail = old.split(END, 1)[1]
    else:
        head = "# depot benchmark results\n\n"
        tail = "\n"
    with open(md + ".tmp", "w") as f:
        f.write(head + "\n".join(gen) + tail)
    os.replace(md + ".tmp", md)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "blob" and len(args) == 3:
        cmd_blob(*args)
    elif cmd == "push" and len(args) in (4, 6) and (len(args) == 4 or
                                                    args[4] == "--chunks"):
        cmd_push(args[0], args[1], args[2], args[3],
                 args[5] if len(args) == 6 else 1)
    elif cmd == "push-loop" and len(args) == 6:
        cmd_push_loop(*args)
    elif cmd == "report" and len(args) == 4:
        cmd_report(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
