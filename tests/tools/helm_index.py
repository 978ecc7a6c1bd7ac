#!/usr/bin/env python3
"""helm_index.py: check a Helm repository index.yaml, and make bad charts,
for depot's Helm tests.

  helm_index.py check FILE [--base URL] [--sorted] [--summary]
      Parses FILE with PyYAML's event parser (libyaml when there is one;
      small files also with yaml.safe_load) and checks
      what Helm relies on: apiVersion v1, a `generated` time, `entries` a
      map of chart name to a list of versions, each with name (the key),
      version (SemVer 2), digest (64 hex digits), urls (at least one),
      created and apiVersion. With --sorted, also that the entries are in
      name order and each chart's versions newest SemVer first. Prints one
      line per chart version: NAME VERSION DIGEST URL, the URL resolved
      against --base (the index's own URL) when given; with --summary only
      "charts N versions M". Exit 1 with the problems on stderr.

  helm_index.py badchart KIND OUT
      Writes a chart archive that a chart repository must refuse, or a
      good one for KIND ok: notgzip, nottar (gzip, but not a tar),
      nochart (no Chart.yaml), badyaml (Chart.yaml is not YAML),
      notmap (Chart.yaml is a YAML list), noname, badname (a name with a
      space and a slash), badversion ("latest"), fourpart (1.2.3.4),
      noversion, ok (name "okchart", version 0.1.0).

  helm_index.py same-count FILE1 FILE2
      Exit 0 when both indexes are valid and hold as many charts and
      chart versions.

  helm_index.py semver-cmp A B
      Prints -1, 0 or 1 (SemVer 2 precedence).
"""
import gzip
import io
import os
import re
import sys
import tarfile
import time
import urllib.parse

SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")


def semver_key(v):
    m = SEMVER.match(v)
    if m is None:
        return None
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
    pre = m.group(4)
    if pre is None:
        # A release sorts after every pre-release of the same version.
        return (major, minor, patch, 1, ())
    ids = []
    for p in pre.split("."):
        # Numeric identifiers sort before alphanumeric ones.
        ids.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    # A longer list of pre-release fields wins when all before are equal:
    # tuples compare that way already.
    return (major, minor, patch, 0, tuple(ids))


def semver_cmp(a, b):
    ka, kb = semver_key(a), semver_key(b)
    return (ka > kb) - (ka < kb)


class Events:
    """PyYAML's libyaml event parser over a file, with a one-event
    look-ahead. The tree is never built whole: a 30 MB index would cost
    seconds and hundreds of MB as Python objects."""

    def __init__(self, f):
        import yaml
        self.yaml = yaml
        loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
        self.it = yaml.parse(f, Loader=loader)
        self.peeked = None

    def peek(self):
        if self.peeked is None:
            self.peeked = next(self.it)
        return self.peeked

    def next(self):
        e = self.peek()
        self.peeked = None
        return e

    def node(self):
        """The next node as str, list or dict (scalars stay strings)."""
        y = self.yaml
        e = self.next()
        if isinstance(e, y.AliasEvent):
            raise ValueError("an alias (*%s) in an index" % e.anchor)
        if isinstance(e, y.ScalarEvent):
            return e.value
        if isinstance(e, y.SequenceStartEvent):
            out = []
            while not isinstance(self.peek(), y.SequenceEndEvent):
                out.append(self.node())
            self.next()
            return out
        if isinstance(e, y.MappingStartEvent):
            out = {}
            while not isinstance(self.peek(), y.MappingEndEvent):
                k = self.node()
                if not isinstance(k, str):
                    raise ValueError("a map key that is not a string")
                if k in out:
                    raise ValueError("key %r twice in one map" % k)
                out[k] = self.node()
            self.next()
            return out
        raise ValueError("unexpected YAML event %s" % e)


def check_versions(name, vers, base, want_sorted, errs, out):
    n = 0
    if not isinstance(vers, list) or not vers:
        errs.append("%s: versions are not a non-empty list" % name)
        return 0
    seen = []
    for e in vers:
        if not isinstance(e, dict):
            errs.append("%s: a version is not a map" % name)
            continue
        v = e.get("version")
        where = "%s %s" % (name, v)
        if e.get("name") != name:
            errs.append("%s: name field is %r" % (where, e.get("name")))
        if not isinstance(v, str) or semver_key(v) is None:
            errs.append("%s: version is not SemVer 2" % where)
            continue
        if v in seen:
            errs.append("%s: listed twice" % where)
        seen.append(v)
        d = e.get("digest")
        if not isinstance(d, str) or not re.match(r"^[0-9a-f]{64}$", d):
            errs.append("%s: digest %r is not 64 hex digits" % (where, d))
        urls = e.get("urls")
        if not isinstance(urls, list) or not urls or \
                not all(isinstance(u, str) and u for u in urls):
            errs.append("%s: urls %r" % (where, urls))
            continue
        for k in ("created", "apiVersion"):
            if not isinstance(e.get(k), str) or not e.get(k):
                errs.append("%s: no %s" % (where, k))
        u = urls[0]
        if base:
            u = urllib.parse.urljoin(base, u)
        n += 1
        if out is not None:
            out.append("%s %s %s %s" % (name, v, d, u))
    if want_sorted:
        keys = [semver_key(v) for v in seen]
        if keys != sorted(keys, reverse=True):
            errs.append("%s: versions are not newest first: %s"
                        % (name, seen))
    return n


def check(path, base, want_sorted, summary):
    import yaml
    errs = []
    out = []
    names = []
    nver = 0
    top = {}
    try:
        with open(path, "rb") as f:
            ev = Events(f)
            while not isinstance(ev.peek(), yaml.MappingStartEvent):
                e = ev.next()
                if isinstance(e, (yaml.StreamEndEvent, yaml.ScalarEvent,
                                  yaml.SequenceStartEvent)):
                    raise ValueError("not a YAML map")
            ev.next()
            while not isinstance(ev.peek(), yaml.MappingEndEvent):
                k = ev.node()
                if k in top:
                    raise ValueError("top-level key %r twice" % k)
                if k != "entries":
                    top[k] = ev.node()
                    continue
                top[k] = True
                if not isinstance(ev.peek(), yaml.MappingStartEvent):
                    v = ev.node()
                    if v not in ("", "null", "~", {}):
                        errs.append("entries is not a map")
                    continue
                ev.next()
                while not isinstance(ev.peek(), yaml.MappingEndEvent):
                    name = ev.node()
                    if not isinstance(name, str):
                        raise ValueError("an entries key is not a string")
                    if name in names:
                        errs.append("chart %s listed twice" % name)
                    names.append(name)
                    nver += check_versions(name, ev.node(), base, want_sorted,
                                           errs, None if summary else out)
                ev.next()
            ev.next()
            while not isinstance(ev.peek(), yaml.StreamEndEvent):
                e = ev.next()
                if isinstance(e, yaml.DocumentStartEvent):
                    raise ValueError("more than one YAML document")
    except (yaml.YAMLError, ValueError, StopIteration) as e:
        print("%s: not a valid index: %s" % (path, e), file=sys.stderr)
        return 1
    if os.path.getsize(path) < 4 * 1024 * 1024:
        # Small enough to load the usual way too (what most tools do).
        with open(path, "rb") as f:
            try:
                yaml.safe_load(f)
            except yaml.YAMLError as e:
                print("%s: yaml.safe_load fails: %s" % (path, e),
                      file=sys.stderr)
                return 1
    if top.get("apiVersion") != "v1":
        errs.append("apiVersion is %r, not v1" % (top.get("apiVersion"),))
    if not top.get("generated"):
        errs.append("no generated time")
    if "entries" not in top:
        errs.append("no entries")
    if want_sorted and names != sorted(names):
        errs.append("entries are not sorted by name: %s" % names[:20])
    if summary:
        out.append("charts %d versions %d" % (len(names), nver))
    sys.stdout.write("".join(line + "\n" for line in out))
    for e in errs[:30]:
        print("%s: %s" % (path, e), file=sys.stderr)
    return 1 if errs else 0


def tgz(files):
    """A gzip'ed tar holding FILES, a list of (path, bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in files:
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mtime = int(time.time())
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def badchart(kind, out):
    values = b"replicaCount: 1\n"
    tmpl = (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            b"  name: {{ .Release.Name }}\ndata:\n  a: b\n")

    def chart(top, chart_yaml):
        return tgz([(top + "/Chart.yaml", chart_yaml),
                    (top + "/values.yaml", values),
                    (top + "/templates/cm.yaml", tmpl)])

    def meta(name, version):
        return ("apiVersion: v2\nname: %s\ndescription: a test chart\n"
                "type: application\nversion: %s\n" % (name, version)).encode()

    if kind == "notgzip":
        data = b"this is not a chart archive\n" * 20
    elif kind == "nottar":
        data = gzip.compress(bytes(range(256)) * 40)
    elif kind == "nochart":
        data = tgz([("okchart/values.yaml", values),
                    ("okchart/templates/cm.yaml", tmpl)])
    elif kind == "badyaml":
        data = chart("okchart", b"apiVersion: v2\nname: [okchart\n"
                     b"version: 0.1.0\n  : : -\n")
    elif kind == "notmap":
        data = chart("okchart", b"- name: okchart\n- version: 0.1.0\n")
    elif kind == "noname":
        data = chart("okchart", b"apiVersion: v2\ndescription: x\n"
                     b"version: 0.1.0\n")
    elif kind == "badname":
        data = chart("okchart", meta("bad/name x", "0.1.0"))
    elif kind == "badversion":
        data = chart("okchart", meta("okchart", "latest"))
    elif kind == "fourpart":
        data = chart("okchart", meta("okchart", "1.2.3.4"))
    elif kind == "noversion":
        data = chart("okchart", b"apiVersion: v2\nname: okchart\n"
                     b"description: x\n")
    elif kind == "ok":
        data = chart("okchart", meta("okchart", "0.1.0"))
    else:
        print("badchart: unknown kind %r" % kind, file=sys.stderr)
        return 2
    with open(out, "wb") as f:
        f.write(data)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "check":
        rest = argv[2:]
        base = None
        if "--base" in rest:
            i = rest.index("--base")
            base = rest[i + 1]
        return check(argv[1], base, "--sorted" in rest, "--summary" in rest)
    if len(argv) == 3 and argv[0] == "same-count":
        # Both files hold the same number of charts and versions.
        out = []
        for f in argv[1:]:
            buf = io.StringIO()
            old, sys.stdout = sys.stdout, buf
            try:
                rc = check(f, None, False, True)
            finally:
                sys.stdout = old
            if rc != 0:
                return 1
            out.append(buf.getvalue().strip())
        if out[0] != out[1]:
            print("%s: %s; %s: %s" % (argv[1], out[0], argv[2], out[1]))
            return 1
        return 0
    if len(argv) == 3 and argv[0] == "badchart":
        return badchart(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "semver-cmp":
        print(semver_cmp(argv[1], argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
