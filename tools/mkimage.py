#!/usr/bin/env python3
"""Make an OCI image layout from a directory: one gzip layer holding the directory's tree.

    tools/mkimage.py ROOTFS LAYOUT_DIR [REF [CMD...]]

REF (default "latest") names the image in the layout's index.json; CMD is the image's Cmd
(default: sh).  Then: capsa image import oci:LAYOUT_DIR:REF NAME.  Used by tools/demo; a
stand-in for `umoci` or `buildah` where those are not installed.
"""

import gzip
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def put_blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": digest, "size": len(data)}


def layer_of(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name)
    tar_bytes = buf.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    rootfs, layout = argv[1], argv[2]
    ref = argv[3] if len(argv) > 3 else "latest"
    cmd = argv[4:] or ["sh"]
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    tar_bytes, gz = layer_of(rootfs)
    layer = put_blob(layout, gz)
    config = put_blob(layout, json.dumps({
        "architecture": ARCH, "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
    }, sort_keys=True).encode())
    manifest = put_blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }, sort_keys=True).encode())
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
            annotations={"org.opencontainers.image.ref.name": ref})]}, f)
    print(manifest["digest"])


if __name__ == "__main__":
    main(sys.argv)
