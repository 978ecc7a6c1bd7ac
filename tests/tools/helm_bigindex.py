#!/usr/bin/env python3
"""helm_bigindex.py: write a large Helm repository index.yaml, shaped like
the big public ones (thousands of charts, tens of versions each, long
descriptions, maintainers, keywords, annotations), for depot's tests of
large upstream indexes. Deterministic for a given --seed.

  helm_bigindex.py --out FILE [--size-mb 30] [--seed 1]
                   [--url-base URL] [--chart NAME VERSION DIGEST URL]...

--url-base is where the made-up chart URLs point (absolute, on the
repository's host; default https://charts.invalid/). --chart adds a real
chart version (with the digest and URL of a file that exists) under its
own name, so a test can download it through the index. The file is
written to FILE.tmp and renamed. Prints "charts N versions M bytes B".
"""
import argparse
import os
import random
import sys

WORDS = ("cloud native database cache proxy operator metrics logging stream "
         "queue search gateway identity storage backup monitor dashboard "
         "pipeline scheduler registry mesh ingress certificate secret vault "
         "analytics graph document object block file network policy").split()


def q(s):
    """A double-quoted YAML scalar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def version_entry(w, rnd, name, version, digest, url, created):
    words = [rnd.choice(WORDS) for _ in range(rnd.randint(30, 60))]
    desc = " ".join(words).capitalize() + "."
    w("  - annotations:\n")
    w("      category: %s\n" % rnd.choice(WORDS).capitalize())
    w("      images: |\n")
    for i in range(rnd.randint(2, 4)):
        img = rnd.choice(WORDS)
        w("        - name: %s\n          image: registry.invalid/%s/%s:%d.%d.%d-r%d\n"
          % (img, name, img, rnd.randint(0, 9), rnd.randint(0, 30),
             rnd.randint(0, 99), i))
    w("      licenses: Apache-2.0\n")
    w("    apiVersion: v2\n")
    w("    appVersion: %s\n" % q("%d.%d.%d" % (rnd.randint(0, 20),
                                           rnd.randint(0, 40),
                                           rnd.randint(0, 9))))
    w("    created: %s\n" % q(created))
    w("    dependencies:\n")
    w("    - name: common\n      repository: oci://registry.invalid/charts\n"
      "      tags:\n      - common\n      version: 2.x.x\n")
    w("    description: %s\n" % desc)
    w("    digest: %s\n" % digest)
    w("    home: https://example.invalid/%s\n" % name)
    w("    icon: https://example.invalid/icons/%s.svg\n" % name)
    w("    keywords:\n")
    for k in rnd.sample(WORDS, 4):
        w("    - %s\n" % k)
    w("    maintainers:\n")
    w("    - name: Team %s\n      url: https://example.invalid/team/%s\n"
      % (rnd.choice(WORDS).capitalize(), rnd.choice(WORDS)))
    w("    name: %s\n" % name)
    w("    sources:\n    - https://example.invalid/src/%s\n" % name)
    w("    urls:\n    - %s\n" % url)
    w("    version: %s\n" % version)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--size-mb", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--url-base", default="https://charts.invalid/")
    ap.add_argument("--chart", nargs=4, action="append", default=[],
                    metavar=("NAME", "VERSION", "DIGEST", "URL"))
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    target = int(a.size_mb * 1024 * 1024)
    tmp = a.out + ".tmp"
    size = 0
    nchart = nver = 0
    with open(tmp, "w", encoding="utf-8") as f:
        def w(s):
            nonlocal size
            f.write(s)
            size += len(s)

        w("apiVersion: v1\nentries:\n")
        # Real charts first (their names sort before "zz-"), then the
        # made-up ones until the file has its size; names stay sorted.
        real = {}
        for name, version, digest, url in a.chart:
            real.setdefault(name, []).append((version, digest, url))
        for name in sorted(real):
            w("  %s:\n" % name)
            nchart += 1
            for version, digest, url in real[name]:
                version_entry(w, rnd, name, version, digest, url,
                              "2024-01-02T03:04:05.123456789Z")
                nver += 1
        i = 0
        while size < target:
            name = "zz-%05d-%s" % (i, rnd.choice(WORDS))
            i += 1
            nchart += 1
            w("  %s:\n" % name)
            for j in range(rnd.randint(5, 15), 0, -1):
                version = "%d.%d.%d" % (j // 10, j % 10, rnd.randint(0, 9))
                digest = "%064x" % rnd.getrandbits(256)
                url = "%s%s-%s.tgz" % (a.url_base, name, version)
                created = "20%02d-%02d-%02dT%02d:%02d:%02d.%09dZ" % (
                    rnd.randint(18, 24), rnd.randint(1, 12),
                    rnd.randint(1, 28), rnd.randint(0, 23),
                    rnd.randint(0, 59), rnd.randint(0, 59),
                    rnd.randint(0, 999999999))
                version_entry(w, rnd, name, version, digest, url, created)
                nver += 1
        w('generated: "2024-06-01T00:00:00.000000000Z"\n')
    os.rename(tmp, a.out)
    print("charts %d versions %d bytes %d" % (nchart, nver,
                                             os.path.getsize(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
