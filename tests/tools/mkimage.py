#!/usr/bin/env python3
"""mkimage.py: build a container image as an OCI image layout directory.

The image has N layers, each a gzip'd tar of a few files of random bytes.
Everything is derived from --seed, so the same arguments always give the
same bytes and digests. With several --platforms the top object is an
image index (OCI) or a manifest list (Docker) pointing at one manifest per
platform. The layout may already exist: the new image is added to its
index.json under --tag (an older entry with that tag is replaced), so one
layout can hold many images.

With --format dir the image is written in the directory format of skopeo's
dir: transport instead (one image per directory). skopeo's oci: transport
only finds OCI media types in index.json, so Docker media type images are
best written with --format dir.

Prints the digest of the top manifest (or index) on stdout.

  mkimage.py [--format oci|dir] [--media oci|docker]
             [--platforms linux/amd64,linux/arm64] [--index]
             [--layers N] [--layer-size BYTES] [--seed S] [--tag T]
             [--shared-layers K --shared-seed S2] LAYOUT_DIR

--shared-layers K: the first K layers of each platform come from
--shared-seed instead of --seed, so images built with different seeds but
the same shared seed have those layers in common.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MEDIA = {
    "oci": {
        "manifest": "application/vnd.oci.image.manifest.v1+json",
        "index": "application/vnd.oci.image.index.v1+json",
        "config": "application/vnd.oci.image.config.v1+json",
        "layer": "application/vnd.oci.image.layer.v1.tar+gzip",
    },
    "docker": {
        "manifest": "application/vnd.docker.distribution.manifest.v2+json",
        "index": "application/vnd.docker.distribution.manifest.list.v2+json",
        "config": "application/vnd.docker.container.image.v1+json",
        "layer": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    },
}

# A fixed time for tar entries and the image config keeps output stable.
FIXED_MTIME = 1700000000
FIXED_CREATED = "2023-11-14T22:13:20Z"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_file(path, data):
    """Write path atomically (temp file and rename)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path):
        self.path = path
        self.blobdir = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobdir, exist_ok=True)

    def put(self, data):
        """Store data as a blob; return its digest string."""
        hexd = sha256_hex(data)
        dest = os.path.join(self.blobdir, hexd)
        if not os.path.exists(dest):
            write_file(dest, data)
        return "sha256:" + hexd

    def put_instance(self, data):
        """Store a per-platform manifest of an index."""
        return self.put(data)

    def finish(self, data, descriptor, tag):
        """Store the top manifest and name it in index.json."""
        self.put(data)
        self.write_index(descriptor, tag)

    def write_index(self, descriptor, tag):
        """Add descriptor to index.json under tag, replacing that tag."""
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        index_path = os.path.join(self.path, "index.json")
        index = {"schemaVersion": 2, "manifests": []}
        if os.path.exists(index_path):
            with open(index_path) as f:
                index = json.load(f)
        keep = []
        for m in index.get("manifests", []):
            name = m.get("annotations", {}).get(
                "org.opencontainers.image.ref.name")
            if name != tag:
                keep.append(m)
        entry = dict(descriptor)
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        keep.append(entry)
        index["manifests"] = keep
        write_file(index_path, (json.dumps(index, indent=2) + "\n").encode())


class DirLayout:
    """A directory in the format of skopeo's dir: transport: blobs named by
    their hex digest, manifest.json for the top manifest, and
    <hex>.manifest.json for each per-platform manifest of a list. It holds
    one image; building another into it replaces the manifests."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)

    def put(self, data):
        hexd = sha256_hex(data)
        dest = os.path.join(self.path, hexd)
        if not os.path.exists(dest):
            write_file(dest, data)
        return "sha256:" + hexd

    def put_instance(self, data):
        hexd = sha256_hex(data)
        write_file(os.path.join(self.path, hexd + ".manifest.json"), data)
        return "sha256:" + hexd

    def finish(self, data, descriptor, tag):
        write_file(os.path.join(self.path, "manifest.json"), data)
        write_file(os.path.join(self.path, "version"),
                   b"Directory Transport Version: 1.1\n")


def make_layer(rng, size, label):
    """A gzip'd tar of a few random files totalling about size bytes.

    Returns (compressed bytes, digest of the uncompressed tar)."""
    nfiles = rng.randint(2, 4)
    sizes = []
    left = size
    for i in range(nfiles):
        if i == nfiles - 1:
            n = left
        else:
            n = rng.randint(0, left) if left > 0 else 0
        sizes.append(n)
        left -= n
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirname = "data-%s" % label
        info = tarfile.TarInfo(dirname)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = FIXED_MTIME
        tar.addfile(info)
        for i, n in enumerate(sizes):
            info = tarfile.TarInfo("%s/file-%d-%08x.bin"
                                   % (dirname, i, rng.getrandbits(32)))
            info.size = n
            info.mode = 0o644
            info.mtime = FIXED_MTIME
            tar.addfile(info, io.BytesIO(rng.randbytes(n)))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    return gz, "sha256:" + sha256_hex(tar_bytes)


def make_manifest(layout, media, platform, args, instance):
    """Write layers, config and manifest for one platform; return its
    descriptor and platform object, and the manifest bytes."""
    parts = platform.split("/")
    if len(parts) < 2 or len(parts) > 3 or not all(parts):
        raise SystemExit("mkimage: bad platform %r (want os/arch[/variant])"
                         % platform)
    osname, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) == 3 else None
    m = MEDIA[media]
    layers = []
    diff_ids = []
    history = []
    for i in range(args.layers):
        if i < args.shared_layers:
            seed = "shared/%s/%s/%d" % (args.shared_seed, platform, i)
        else:
            seed = "own/%s/%s/%d" % (args.seed, platform, i)
        rng = random.Random(seed)
        gz, diff_id = make_layer(rng, args.layer_size, "%d" % i)
        layers.append({"mediaType": m["layer"], "digest": layout.put(gz),
                       "size": len(gz)})
        diff_ids.append(diff_id)
        history.append({"created": FIXED_CREATED,
                        "created_by": "mkimage layer %d" % i})
    config = {
        "architecture": arch,
        "os": osname,
        "created": FIXED_CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"],
            "Labels": {"mkimage.seed": str(args.seed)},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    if variant:
        config["variant"] = variant
    config_bytes = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": m["manifest"],
        "config": {"mediaType": m["config"],
                   "digest": layout.put(config_bytes),
                   "size": len(config_bytes)},
        "layers": layers,
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()
    if instance:
        layout.put_instance(manifest_bytes)
    desc = {"mediaType": m["manifest"],
            "digest": "sha256:" + sha256_hex(manifest_bytes),
            "size": len(manifest_bytes)}
    plat = {"architecture": arch, "os": osname}
    if variant:
        plat["variant"] = variant
    return desc, plat, manifest_bytes


def main():
    p = argparse.ArgumentParser(
        description="Build a random image in an OCI image layout directory.")
    p.add_argument("layout", help="layout directory (created when missing)")
    p.add_argument("--format", choices=("oci", "dir"), default="oci",
                   help="write an OCI image layout (default) or the "
                        "directory format of skopeo's dir: transport")
    p.add_argument("--media", choices=("oci", "docker"), default="oci",
                   help="OCI or Docker schema2 media types (default oci)")
    p.add_argument("--platforms", default="linux/amd64",
                   help="comma-separated os/arch[/variant]; more than one "
                        "makes an index / manifest list")
    p.add_argument("--index", action="store_true",
                   help="make an index even for a single platform")
    p.add_argument("--layers", type=int, default=2, help="layers per image")
    p.add_argument("--layer-size", type=int, default=65536,
                   help="bytes of file content per layer (default 65536)")
    p.add_argument("--seed", default="0", help="seed for random content")
    p.add_argument("--shared-layers", type=int, default=0,
                   help="how many first layers come from --shared-seed")
    p.add_argument("--shared-seed", default="shared",
                   help="seed for the shared layers")
    p.add_argument("--tag", default="latest",
                   help="reference name in index.json (default latest)")
    args = p.parse_args()
    if args.layers < 1 or args.layer_size < 0 or args.shared_layers < 0:
        p.error("--layers must be at least 1, sizes not negative")

    if args.format == "oci":
        layout = Layout(args.layout)
    else:
        layout = DirLayout(args.layout)
    platforms = [s.strip() for s in args.platforms.split(",") if s.strip()]
    if not platforms:
        p.error("no platform given")
    if len(set(platforms)) != len(platforms):
        p.error("a platform is listed twice")
    m = MEDIA[args.media]
    if len(platforms) == 1 and not args.index:
        top, _, top_bytes = make_manifest(layout, args.media, platforms[0],
                                          args, False)
    else:
        entries = []
        for plat in platforms:
            desc, platform, _ = make_manifest(layout, args.media, plat, args,
                                              True)
            desc["platform"] = platform
            entries.append(desc)
        index = {"schemaVersion": 2, "mediaType": m["index"],
                 "manifests": entries}
        top_bytes = json.dumps(index, indent=3).encode()
        top = {"mediaType": m["index"],
               "digest": "sha256:" + sha256_hex(top_bytes),
               "size": len(top_bytes)}
    layout.finish(top_bytes, top, args.tag)
    print(top["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
