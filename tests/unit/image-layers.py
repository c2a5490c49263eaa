#!/usr/bin/python3
"""Layer tars for tests/unit/test-image-layer.c, written into the directory given.

full.tar (and .tar.gz, .tar.zst): owners, modes, setuid, mtimes, xattrs, hard links, a file of
zeros, devices, a fifo, symlinks, replaced entries.  sparse.tar: a sparse file (GNU tar, pax
sparse format).  whiteout.tar: OCI whiteouts.  big.tar.gz: some MiB for the concurrency test.
The bad-*.tar files each hold one entry capsa must refuse; truncated.tar.gz and garbage.tar.gz
are broken streams."""
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile

OUT = sys.argv[1]


def info(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, mtime=1600000000, **kw):
    t = tarfile.TarInfo(name)
    t.type, t.mode, t.uid, t.gid, t.mtime = kind, mode, uid, gid, mtime
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def write_tar(name, entries):
    """entries: (TarInfo, bytes or None)"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for t, data in entries:
            if data is not None:
                t.size = len(data)
                tf.addfile(t, io.BytesIO(data))
            else:
                tf.addfile(t)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return buf.getvalue()


def gz(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(gzip.compress(data, mtime=0))


def zst(src, dst):
    subprocess.run(["zstd", "-q", "-f", os.path.join(OUT, src), "-o", os.path.join(OUT, dst)],
                   check=True)


D = tarfile.DIRTYPE
full = write_tar("full.tar", [
    (info("./", D, 0o755, mtime=1000), None),
    (info("./etc/", D, 0o750, 0, 42, mtime=1000000), None),
    (info("./etc/passwd", mtime=1234567890), b"root:x:0:0:root:/root:/bin/sh\n"),
    (info("./bin/", D, 0o755), None),
    (info("./bin/su", mode=0o4755), b"#!/bin/sh\n"),
    (info("./bin/sg", mode=0o2755, gid=5), b"#!/bin/sh\n"),
    (info("./bin/su-link", tarfile.LNKTYPE, linkname="bin/su"), None),
    (info("./bin/su-link2", tarfile.LNKTYPE, linkname="./bin/su-link"), None),
    (info("./tmp/", D, 0o1777), None),
    (info("./home/user/file", mode=0o600, uid=1000, gid=1000, mtime=1500000000), b"mine"),
    (info("./x", pax_headers={"SCHILY.xattr.user.foo": "bar",
                              "SCHILY.xattr.trusted.capsa": "t"}), b"x"),
    (info("./zeros"), b"\0" * (1 << 20) + b"end"),
    (info("./dev/", D), None),
    (info("./dev/null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3), None),
    (info("./dev/loop0", tarfile.BLKTYPE, 0o660, gid=6, devmajor=7, devminor=0), None),
    (info("./run/fifo", tarfile.FIFOTYPE, 0o620), None),
    (info("./lib/a", tarfile.SYMTYPE, 0o777, linkname="b"), None),
    (info("./lib/b", tarfile.SYMTYPE, 0o777, linkname="c"), None),
    (info("./lib/c"), b"end of chain"),
    (info("./etc/shadow-link", tarfile.SYMTYPE, 0o777, linkname="/etc/shadow"), None),
    (info("./up", tarfile.SYMTYPE, 0o777, linkname="../../../.."), None),
    (info("implicit/parents/file"), b"i"),
    (info("dup"), b"one"),
    (info("dup"), b"two"),
    (info("m/", D, 0o755), None),
    (info("m/a"), b"a"),
    (info("m/", D, 0o700, mtime=2000000), None),
    (info("f2d"), b"file"),
    (info("f2d/", D, 0o755), None),
])
gz("full.tar.gz", full)
zst("full.tar", "full.tar.zst")

# a sparse file: 8 MiB with 4 bytes at 4 MiB, archived by GNU tar in pax sparse format 1.0
with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, "sparse"), "wb") as f:
        f.seek(4 << 20)
        f.write(b"data")
        f.truncate(8 << 20)
    subprocess.run(["tar", "--sparse", "--format=posix", "--numeric-owner", "--owner=0",
                    "--group=0", "-cf", os.path.join(OUT, "sparse.tar"), "-C", d, "sparse"],
                   check=True)

write_tar("whiteout.tar", [
    (info(".wh.gone"), b""),
    (info("d/", D), None),
    (info("d/.wh..wh..opq"), b""),
    (info("d/keep"), b"k"),
    (info("e/", D), None),
    (info("e/f"), b"f"),
    (info("e/.wh.f"), b""),
    (info("e/.wh.g"), b""),
    (info("e/g"), b"g"),
    (info(".wh..wh.plnk/", D, 0o700), None),
    (info(".wh..wh.plnk/123.456"), b"aufs"),
])

write_tar("empty.tar", [])
mis = write_tar("mis.tar", [(info("never-added"), b"m")])
gz("mis.tar.gz", mis)
gz("pipe.tar.gz", write_tar("pipe.tar", [(info("through-a-pipe"), os.urandom(300 << 10))]))
open(os.path.join(OUT, "zero-bytes"), "wb").close()
big = write_tar("big.tar", [(info("f%03d" % i), os.urandom(32 << 10)) for i in range(128)])
gz("big.tar.gz", big)

bad = {
    "dotdot": [(info("a/../../etc/x"), b"x")],
    "abs": [(info("/etc/x"), b"x")],
    "through-symlink": [(info("link", tarfile.SYMTYPE, linkname="/tmp"), None),
                        (info("link/x"), b"x")],
    "through-inner-symlink": [(info("d/", D), None),
                              (info("l", tarfile.SYMTYPE, linkname="d"), None),
                              (info("l/x"), b"x")],
    "hardlink-outside": [(info("h", tarfile.LNKTYPE, linkname="../../etc/passwd"), None)],
    "hardlink-abs": [(info("h", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
    "hardlink-missing": [(info("h", tarfile.LNKTYPE, linkname="nothere"), None)],
    "hardlink-through-symlink": [(info("l", tarfile.SYMTYPE, linkname="/etc"), None),
                                 (info("h", tarfile.LNKTYPE, linkname="l/passwd"), None)],
    "overlay-xattr": [(info("r", pax_headers={"SCHILY.xattr.trusted.overlay.redirect": "/x"}),
                       b"x")],
    "whiteout-dotdot": [(info(".wh.."), b"")],
    "xattr-refused": [(info("r", pax_headers={"SCHILY.xattr.bogus.name": "x"}), b"x")],
    # a multivolume continuation: libarchive gives it no file type
    "unknown-type": [(info("u", b"M"), b"x")],
}
for name, entries in bad.items():
    write_tar("bad-%s.tar" % name, [(info("ok"), b"written before the bad entry")] + entries)

with open(os.path.join(OUT, "full.tar.gz"), "rb") as f:
    data = f.read()
with open(os.path.join(OUT, "truncated.tar.gz"), "wb") as f:
    f.write(data[: len(data) // 2])
with open(os.path.join(OUT, "garbage.tar.gz"), "wb") as f:
    f.write(b"\x1f\x8b\x08\x00" + os.urandom(4096))
with open(os.path.join(OUT, "noise.tar.gz"), "wb") as f:
    f.write(os.urandom(4096))
