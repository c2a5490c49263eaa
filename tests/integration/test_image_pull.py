"""capsa image pull against a real registry: Debian's docker-registry on loopback, started by
each test (tests/integration/registry.py), images made by imagelib.py and pushed with skopeo.

By tag and by digest, OCI and Docker schema 2 manifests, a multi-platform index resolved to
this host's platform, plain HTTP (the loopback fallback), HTTPS with --ca-file and with
--tls-verify=false, bearer-token auth (a token service signing JWTs with the openssl CLI) and
basic auth, and the failures: 401 without credentials, 404, 500, a corrupt blob or manifest, a
connection dropped midway through a blob (the next pull resumes it with Range), a wrong
partial download (restarted cleanly), a stalled transfer, cross-origin redirects (no
Authorization leaves its origin).  After a failure the store holds no image and nothing
half-made.  Each test has its own image root under its tmp dir.
"""

import json
import os
import subprocess
import threading
import time

import pytest

import imagelib as L
import registry as R
from conftest import CAPSA, IS_CAPSA

pytestmark = [pytest.mark.capsa_only,
              pytest.mark.skipif(not IS_CAPSA, reason="capsa's own image store"),
              pytest.mark.skipif(R.missing_tools() is not None,
                                 reason=R.missing_tools() or "")]

BIG = 1 << 20  # the big layer's random file: big enough to cut a download midway


# ---- helpers -----------------------------------------------------------------------------------


class Pulled:
    def __init__(self, argv, p):
        self.argv, self.rc, self.out, self.err = argv, p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return f"<{' '.join(self.argv)} -> rc={self.rc}\nstdout: {self.out}\nstderr: {self.err}>"


def pull(root, ref, *opts, timeout=90):
    argv = [CAPSA, "--image-root", str(root), "image", "pull", "--quiet", *map(str, opts), ref]
    return Pulled(argv, subprocess.run(argv, capture_output=True, text=True, timeout=timeout))


def pull_ok(root, ref, *opts):
    r = pull(root, ref, *opts)
    assert r.rc == 0, r
    assert r.err == "", r  # --quiet, and no warning
    return r.out.strip()


def pull_fails(root, ref, *opts, **kw):
    r = pull(root, ref, *opts, **kw)
    assert r.rc != 0, r
    assert r.err.startswith(f"capsa: pull {ref}: "), r
    return r.err


def listdir(p):
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def stored_images(root):
    p = os.path.join(root, "images.json")
    return json.load(open(p))["images"] if os.path.exists(p) else []


def names(root):
    return sorted(n for i in stored_images(root) for n in i["names"])


def assert_nothing_half_made(root, partials=()):
    """No image recorded, every layer in the store complete, ROOT/tmp empty but for the
    partial downloads named."""
    assert stored_images(root) == []
    for hexd in listdir(os.path.join(root, "layers", "sha256")):
        assert os.path.isfile(os.path.join(root, "layers", "sha256", hexd, "diffid")), hexd
    assert listdir(os.path.join(root, "tmp")) == sorted(d[7:] + ".partial" for d in partials)


def layer_file(root, layer_digest, path):
    with open(os.path.join(root, "layers", "sha256", layer_digest[7:], "diff", path), "rb") as f:
        return f.read()


class Image:
    """An OCI layout of two layers (a small one, one with BIG random bytes) and its digests."""

    def __init__(self, d, arch=None):
        self.layout = str(d / "layout")
        self.big = os.urandom(BIG)
        self.digest = L.write_oci_layout(self.layout, [
            [L.file("hello", b"hi from the registry\n")],
            [L.file("big", self.big, mode=0o600)],
        ], config={"Cmd": ["/hello"]}, arch=arch)
        self.manifest = json.loads(L.read_blob(self.layout, self.digest))
        self.layers = [l["digest"] for l in self.manifest["layers"]]
        self.config = self.manifest["config"]["digest"]


@pytest.fixture
def servers(testdir):
    """Factory for the registry, token service, proxy and blob store of a test; all stopped
    at teardown, also when the test fails."""
    started = []

    class Servers:
        def registry(self, **kw):
            started.append(R.Registry(testdir, **kw))
            return started[-1]

        def token(self, **kw):
            started.append(R.TokenServer(testdir, **kw))
            return started[-1]

        def proxy(self, upstream):
            started.append(R.FaultProxy(upstream.host))
            return started[-1]

        def blobstore(self, layout):
            started.append(R.BlobStore(layout))
            return started[-1]

    yield Servers()
    for s in reversed(started):
        s.stop()


@pytest.fixture
def root(testdir):
    return testdir / "images"


@pytest.fixture
def image(testdir):
    return Image(testdir)


@pytest.fixture
def plain(servers, image):
    """A plain-HTTP registry holding the image as test/img:1."""
    reg = servers.registry()
    R.push(image.layout, f"{reg.host}/test/img:1")
    return reg


def assert_pulled(root, image, name):
    assert names(root) == [name]
    (rec,) = stored_images(root)
    assert rec["manifest"] == image.digest and rec["config"] == image.config
    assert layer_file(root, image.layers[0], "hello") == b"hi from the registry\n"
    assert layer_file(root, image.layers[1], "big") == image.big
    assert listdir(os.path.join(root, "tmp")) == []


# ---- what works --------------------------------------------------------------------------------


def test_pull_by_tag_over_plain_http(root, plain, image):
    """https first; a loopback registry that speaks plain HTTP is pulled over http."""
    ref = f"{plain.host}/test/img:1"
    assert pull_ok(root, ref) == image.digest
    assert_pulled(root, image, ref)
    # again: everything is there already
    assert pull_ok(root, ref) == image.digest
    assert_pulled(root, image, ref)


def test_pull_by_digest(root, plain, image):
    ref = f"{plain.host}/test/img@{image.digest}"
    assert pull_ok(root, ref) == image.digest
    assert_pulled(root, image, ref)
    # a tag and a digest: the digest is what is fetched, the tag names it
    ref2 = f"{plain.host}/test/img:one@{image.digest}"
    assert pull_ok(root, ref2) == image.digest
    assert sorted(stored_images(root)[0]["names"]) == sorted([ref, f"{plain.host}/test/img:one"])


def test_pull_by_unknown_digest(root, plain, image):
    other = L.digest(b"not a manifest")
    err = pull_fails(root, f"{plain.host}/test/img@{other}")
    assert "manifest unknown" in err and f"/v2/test/img/manifests/{other}" in err
    assert_nothing_half_made(root)


def test_pull_localhost_name(root, plain, image):
    ref = f"localhost:{plain.port}/test/img:1"
    assert pull_ok(root, ref) == image.digest
    assert names(root) == [ref]


def test_pull_docker_schema2(root, servers, image):
    reg = servers.registry()
    R.push(image.layout, f"{reg.host}/test/docker:1", fmt="v2s2")
    digest = pull_ok(root, f"{reg.host}/test/docker:1")
    manifest = json.load(open(os.path.join(root, "blobs", "sha256", digest[7:])))
    assert manifest["mediaType"] == L.MT_DOCKER_MANIFEST
    assert layer_file(root, manifest["layers"][1]["digest"], "big") == image.big


def test_pull_index_picks_this_host(root, servers, testdir):
    host, other = L.host_arch(), "arm64" if L.host_arch() != "arm64" else "amd64"
    layout = str(testdir / "multi")
    index = L.write_oci_index_layout(layout, {
        f"linux/{host}": [[L.file("arch", host.encode())]],
        f"linux/{other}": [[L.file("arch", other.encode())]],
    })
    mine = [m for m in json.loads(L.read_blob(layout, index))["manifests"]
            if m["platform"]["architecture"] == host]
    reg = servers.registry()
    R.push(layout, f"{reg.host}/test/multi:1", all_=True)
    assert pull_ok(root, f"{reg.host}/test/multi:1") == mine[0]["digest"]
    manifest = json.loads(L.read_blob(layout, mine[0]["digest"]))
    assert layer_file(root, manifest["layers"][0]["digest"], "arch") == host.encode()
    assert len(listdir(os.path.join(root, "layers", "sha256"))) == 1  # not the other's
    # by the index's digest too
    assert pull_ok(root, f"{reg.host}/test/multi@{index}") == mine[0]["digest"]


def test_pull_index_without_this_host(root, servers, testdir):
    arches = [a for a in ("arm64", "s390x", "amd64") if a != L.host_arch()][:2]
    layout = str(testdir / "foreign")
    L.write_oci_index_layout(layout, {f"linux/{a}": [[L.file("x", a.encode())]]
                                      for a in arches})
    reg = servers.registry()
    R.push(layout, f"{reg.host}/test/foreign:1", all_=True)
    err = pull_fails(root, f"{reg.host}/test/foreign:1")
    assert all(f"linux/{a}" in err for a in arches), err
    assert_nothing_half_made(root)


def test_pull_https_ca_file_and_no_verify(root, servers, image, testdir):
    reg = servers.registry(tls=True)
    R.push(image.layout, f"{reg.host}/test/img:1")
    ref = f"{reg.host}/test/img:1"
    # the self-signed certificate is not trusted: an error, and no fallback to plain http
    err = pull_fails(root, ref)
    assert f"GET https://{reg.host}/v2/test/img/manifests/1" in err
    assert "certificate" in err, err
    assert_nothing_half_made(root)
    assert pull_ok(root, ref, "--ca-file", reg.cert) == image.digest
    assert_pulled(root, image, ref)
    root2 = testdir / "images2"
    assert pull_ok(root2, ref, "--tls-verify=false") == image.digest
    assert_pulled(root2, image, ref)


def test_pull_ca_file_missing(root, plain):
    err = pull_fails(root, f"{plain.host}/test/img:1", "--ca-file", "/nonexistent/ca.pem")
    assert "--ca-file /nonexistent/ca.pem: No such file or directory" in err


def test_pull_token_auth(root, servers, image):
    ts = servers.token()
    reg = servers.registry(token=ts)
    R.push(image.layout, f"{reg.host}/test/img:1", creds="alice:secret")
    ref = f"{reg.host}/test/img:1"
    err = pull_fails(root, ref)
    assert f"{reg.host} requires authentication (--creds USER:PASSWORD)" in err
    assert_nothing_half_made(root)
    err = pull_fails(root, ref, "--creds", "alice:wrong")
    assert "refused the credentials of `alice`" in err and "HTTP 401" in err
    assert ts.realm in err
    assert_nothing_half_made(root)
    n = len(ts.requests)
    assert pull_ok(root, ref, "--creds", "alice:secret") == image.digest
    assert_pulled(root, image, ref)
    path, headers = ts.requests[n]
    assert "scope=repository%3Atest%2Fimg%3Apull" in path
    assert headers["Authorization"] == "Basic YWxpY2U6c2VjcmV0"


def test_pull_anonymous_token_without_access(root, servers, image):
    """A token service that hands anonymous tokens (as Docker Hub does) which the registry then
    refuses: the same clear error."""
    ts = servers.token(anonymous=True)
    reg = servers.registry(token=ts)
    R.push(image.layout, f"{reg.host}/test/img:1", creds="alice:secret")
    err = pull_fails(root, f"{reg.host}/test/img:1")
    assert f"{reg.host} requires authentication (--creds USER:PASSWORD)" in err
    assert_nothing_half_made(root)


def test_pull_basic_auth(root, servers, plain, image):
    px = servers.proxy(plain)
    px.basic = ("bob", "pw")
    ref = f"{px.host}/test/img:1"
    err = pull_fails(root, ref)
    assert f"{px.host} requires authentication (--creds USER:PASSWORD)" in err
    err = pull_fails(root, ref, "--creds", "bob:nope")
    assert f"{px.host}: access denied to `bob`" in err and "HTTP 401" in err
    assert_nothing_half_made(root)
    assert pull_ok(root, ref, "--creds", "bob:pw") == image.digest
    assert_pulled(root, image, ref)


def test_pull_redirected_blobs_lose_authorization(root, servers, image):
    """Blobs redirected to storage on another origin: fetched there without the token."""
    ts = servers.token()
    reg = servers.registry(token=ts)
    R.push(image.layout, f"{reg.host}/test/img:1", creds="alice:secret")
    store = servers.blobstore(image.layout)
    px = servers.proxy(reg)
    px.redirect_blobs = store
    ref = f"{px.host}/test/img:1"
    assert pull_ok(root, ref, "--creds", "alice:secret") == image.digest
    assert_pulled(root, image, ref)
    blob_gets = [h for _, p, h in px.requests if "/blobs/" in p]
    assert blob_gets and all(h.get("Authorization", "").startswith("Bearer ") for h in blob_gets)
    assert len(store.requests) == 3  # config and two layers
    assert all("Authorization" not in h for _, _, h in store.requests), store.requests


# ---- failures ----------------------------------------------------------------------------------


def test_pull_unknown_tag(root, plain):
    err = pull_fails(root, f"{plain.host}/test/img:nope")
    assert "manifest unknown" in err
    assert f"GET http://{plain.host}/v2/test/img/manifests/nope: HTTP 404" in err
    assert_nothing_half_made(root)


def test_pull_unknown_repo(root, plain):
    err = pull_fails(root, f"{plain.host}/test/nothing")
    assert "manifest unknown" in err
    assert_nothing_half_made(root)


def test_pull_invalid_reference(root):
    err = pull_fails(root, "Test/Img:1")
    assert "invalid reference `Test/Img:1`" in err and "lowercase" in err
    err = pull_fails(root, "img@sha256:1234")
    assert "not a digest" in err


def test_pull_connection_refused(root):
    port = R.free_port()
    err = pull_fails(root, f"127.0.0.1:{port}/test/img:1")
    assert f"GET https://127.0.0.1:{port}/v2/test/img/manifests/1" in err
    assert "onnect" in err  # curl: "Failed to connect to ..."


@pytest.mark.parametrize("kind", ["manifests", "blobs"])
@pytest.mark.parametrize("code", [500, 503])
def test_pull_server_error(root, servers, plain, image, kind, code):
    px = servers.proxy(plain)
    px.status[kind] = code
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert f": HTTP {code} " in err and "injected by the test proxy (INJECTED)" in err
    if kind == "blobs":
        assert f"blob {image.config}: GET http://{px.host}/v2/test/img/blobs/{image.config}" in err
    assert_nothing_half_made(root)
    px.status.clear()
    assert pull_ok(root, f"{px.host}/test/img:1") == image.digest


def test_pull_blob_missing(root, servers, plain, image):
    px = servers.proxy(plain)
    px.status["blobs"] = 404
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert f"blob {image.config}: blob unknown" in err
    assert_nothing_half_made(root)


def test_pull_corrupt_blob(root, servers, plain, image):
    px = servers.proxy(plain)
    px.corrupt_blob = True
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert f"blob {image.config}: the registry sent" in err and "(download removed)" in err
    assert_nothing_half_made(root)


def test_pull_corrupt_manifest(root, servers, plain, image):
    px = servers.proxy(plain)
    px.corrupt_manifest = 1
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert f"manifest test/img:1: the body's digest is " in err
    assert f"the registry's Docker-Content-Digest {image.digest}" in err
    assert_nothing_half_made(root)
    # pulled by digest, from a registry that sends no Docker-Content-Digest
    px.drop_headers = {"Docker-Content-Digest"}
    err = pull_fails(root, f"{px.host}/test/img@{image.digest}")
    assert f"manifest test/img@{image.digest}: the registry sent one with digest " in err
    assert_nothing_half_made(root)


def test_pull_manifest_too_large(root, servers, plain, image):
    px = servers.proxy(plain)
    px.corrupt_manifest = 5 << 20
    px.drop_headers = {"Docker-Content-Digest"}
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert f"GET http://{px.host}/v2/test/img/manifests/1: response larger than 4194304 bytes" in err
    assert_nothing_half_made(root)


def test_pull_schema1_refused(root, servers, plain):
    px = servers.proxy(plain)
    px.manifest_type = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert ("manifest test/img:1: unsupported media type "
            "`application/vnd.docker.distribution.manifest.v1+prettyjws` (Docker schema 1") in err
    assert_nothing_half_made(root)


def test_pull_401_without_or_with_odd_challenge(root, servers, plain):
    px = servers.proxy(plain)
    px.status["manifests"] = 401
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert "HTTP 401 without a WWW-Authenticate challenge" in err
    px.headers["manifests"] = [("WWW-Authenticate", 'Negotiate realm="x"')]
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert "unsupported authentication scheme `Negotiate`" in err
    px.headers["manifests"] = [("WWW-Authenticate", 'Bearer realm="unterminated')]
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert "cannot parse WWW-Authenticate `Bearer realm=\"unterminated`" in err
    px.headers["manifests"] = [("WWW-Authenticate", 'Bearer service="x"')]
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert "a Bearer challenge without a realm" in err
    assert_nothing_half_made(root)


def test_pull_token_service_answers_no_token(root, servers, image):
    ts = servers.token()
    reg = servers.registry(token=ts)
    R.push(image.layout, f"{reg.host}/test/img:1", creds="alice:secret")
    ts.answer = b'{"expires_in": 60}'
    err = pull_fails(root, f"{reg.host}/test/img:1", "--creds", "alice:secret")
    assert f"token from {ts.realm}" in err and 'no "token" in the answer' in err
    ts.answer = b"<html>"
    err = pull_fails(root, f"{reg.host}/test/img:1", "--creds", "alice:secret")
    assert f"token from {ts.realm}" in err and "invalid JSON" in err
    assert_nothing_half_made(root)


def test_pull_redirect_loop(root, servers, plain):
    px = servers.proxy(plain)
    px.redirect_blobs = px
    err = pull_fails(root, f"{px.host}/test/img:1")
    assert "more than 5 redirects" in err
    assert_nothing_half_made(root)


def test_pull_dropped_connection_resumes(root, servers, plain, image):
    big = image.layers[1]
    px = servers.proxy(plain)
    cut = 300000
    px.drop_blob = (big, cut)
    ref = f"{px.host}/test/img:1"
    err = pull_fails(root, ref)
    assert f"blob {big}: GET http://{px.host}/v2/test/img/blobs/{big}" in err
    assert f"{cut} bytes kept in {root}/tmp: the next pull resumes" in err
    assert_nothing_half_made(root, partials=[big])
    assert os.path.getsize(os.path.join(root, "tmp", big[7:] + ".partial")) == cut
    n = len(px.requests)
    assert pull_ok(root, ref) == image.digest
    assert_pulled(root, image, ref)
    gets = [h for _, p, h in px.requests[n:] if p.endswith("/blobs/" + big)]
    assert [h.get("Range") for h in gets] == [f"bytes={cut}-"]


def test_pull_wrong_partial_restarts(root, servers, plain, image):
    """A partial download that is not the blob's start: resumed, found wrong, started again
    from nothing within the same pull."""
    big = image.layers[1]
    os.makedirs(os.path.join(root, "tmp"), mode=0o700)
    with open(os.path.join(root, "tmp", big[7:] + ".partial"), "wb") as f:
        f.write(b"x" * 1000)
    px = servers.proxy(plain)
    ref = f"{px.host}/test/img:1"
    assert pull_ok(root, ref) == image.digest
    assert_pulled(root, image, ref)
    gets = [h for _, p, h in px.requests if p.endswith("/blobs/" + big)]
    assert [h.get("Range") for h in gets] == ["bytes=1000-", None]


def test_pull_partial_longer_than_blob(root, servers, plain, image):
    big = image.layers[1]
    os.makedirs(os.path.join(root, "tmp"), mode=0o700)
    with open(os.path.join(root, "tmp", big[7:] + ".partial"), "wb") as f:
        f.write(image.big + b"and more")  # longer than the layer blob (gzip of it is ~BIG)
        f.write(b"y" * 4096)
    px = servers.proxy(plain)
    assert pull_ok(root, f"{px.host}/test/img:1") == image.digest
    gets = [h for _, p, h in px.requests if p.endswith("/blobs/" + big)]
    assert [h.get("Range") for h in gets] == [None]
    assert listdir(os.path.join(root, "tmp")) == []


def test_pull_stalled_transfer_aborts(root, servers, plain, image):
    """A registry that sends a blob's headers and then nothing: aborted after 30 s."""
    px = servers.proxy(plain)
    px.stall_blob = True
    t0 = time.monotonic()
    err = pull_fails(root, f"{px.host}/test/img:1", timeout=120)
    assert 29 < time.monotonic() - t0 < 90
    assert f"blob {image.config}: GET http://{px.host}" in err and "too slow" in err.lower()
    assert_nothing_half_made(root)


def pull_on_tty(root, ref):
    """A pull without --quiet, stderr a terminal: what it drew there."""
    return L.stderr_on_tty([CAPSA, "--image-root", str(root), "image", "pull", ref])


def test_pull_progress_on_a_terminal(root, plain, image):
    out = pull_on_tty(root, f"{plain.host}/test/img:1")
    last = out[out.rindex("\x1b[2K" + image.config[:19]):].replace("\x1b[2K", "").splitlines()
    # the last redraw: one line per blob ("sha256:" and 12 hex digits), then the total
    assert [l.split()[0] for l in last] == [d[:19] for d in [image.config] + image.layers] + [
        "total"], out
    assert all(l.endswith("downloaded") for l in last[:3]), out
    assert "2.0 MiB" not in last[3], out  # each byte counted once
    # again: the layers are there
    out = pull_on_tty(root, f"{plain.host}/test/img:1")
    assert out.count("exists") >= 2, out


def test_parallel_pulls(root, plain, image):
    """Two pulls of one image at once: the per-blob lock keeps them off each other's partial
    downloads; both succeed, the store holds the image once."""
    ref = f"{plain.host}/test/img:1"
    results = [None, None]

    def one(i):
        results[i] = pull(root, ref)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        assert r is not None and r.rc == 0, r
        assert r.out.strip() == image.digest
    assert_pulled(root, image, ref)
