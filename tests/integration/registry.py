"""A real OCI registry on loopback for the pull tests, and the small servers around it.

    Registry(tmpdir, tls=False, token=None)   Debian's `docker-registry` on 127.0.0.1:<free
        port>, its config and storage under tmpdir; tls=True serves HTTPS with a self-signed
        certificate made with the openssl CLI (registry.cert: the file for --ca-file);
        token=TokenServer(...) makes the registry ask for bearer tokens from it.  .host is
        "127.0.0.1:PORT"; .stop() ends it (by pid).
    TokenServer(tmpdir, users={"alice": "secret"}, anonymous=False)   the registry's token
        service: GET /token?service=&scope= with basic auth answers {"token": JWT}, the JWT
        signed RS256 with the openssl CLI and carrying its certificate (x5c), granting what
        the scope asks; without credentials a 401 (anonymous=True: a token granting nothing,
        as Docker Hub does); .answer (bytes) replaces the answer.  .requests lists (path, headers) of what it served.
    FaultProxy(upstream)   an HTTP proxy in front of a registry that injects faults: .status
        {kind: code} answers "manifests" or "blobs" requests with that status; .drop_blob =
        (digest, n) cuts the connection of that blob's next download after n body bytes;
        .headers {kind: [(name, value)]} adds headers to those injected answers (a challenge);
        .corrupt_blob flips a byte of blobs; .corrupt_manifest (n) appends n spaces to a
        manifest; .manifest_type replaces a manifest's Content-Type; .drop_headers (names) are
        removed from forwarded answers;
        .stall_blob sends a blob's headers and then nothing; .redirect_blobs (a BlobStore) sends
        blob GETs there with a 307; .basic ("user", "pass") requires basic auth.  .requests
        lists (method, path, headers) in order.
    BlobStore(layout_dir)   serves /blobs/sha256/HEX of an OCI layout with Range, standing in
        for the storage a registry redirects to; .requests as above.
    push(layout_dir, dest, creds=None, all_=False, fmt=None)   `skopeo copy` of oci:DIR:latest
        to docker://DEST over TLS without verification (or plain HTTP).

Everything binds 127.0.0.1 only and is ended by the object that started it (each has stop());
the pytest fixtures in test_image_pull.py call it also when the test fails.
"""

import base64
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO_BIN = shutil.which("skopeo") or "/usr/bin/skopeo"


def missing_tools():
    """The reason the pull tests cannot run here, or None."""
    for tool, pkg in ((REGISTRY_BIN, "docker-registry"), (SKOPEO_BIN, "skopeo"),
                      (shutil.which("openssl"), "openssl")):
        if not tool or not os.access(tool, os.X_OK):
            return f"{pkg} is not installed (apt-get install {pkg})"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(tmpdir, name, cn, san=None):
    """(cert, key) paths: an RSA self-signed certificate made with the openssl CLI."""
    cert, key = Path(tmpdir) / f"{name}.crt", Path(tmpdir) / f"{name}.key"
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
            "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)]
    if san:
        argv += ["-addext", f"subjectAltName={san}"]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return cert, key


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Server:
    """A threaded HTTP server on 127.0.0.1:<free port> with a handler class of its own."""

    def _serve(self, handler):
        self.requests = []
        owner = self

        class H(handler):
            server_owner = owner
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if getattr(self, "httpd", None):
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def _reply(h, code, body=b"", headers=()):
    h.send_response(code)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


# ---- the token service ------------------------------------------------------------------------


class TokenServer(_Server):
    SERVICE = "capsa-test-registry"
    ISSUER = "capsa-test-token-issuer"

    def __init__(self, tmpdir, users=None, anonymous=False):
        self.tmpdir = Path(tmpdir)
        self.answer = None  # bytes: what /token answers instead of a token
        self.users = users if users is not None else {"alice": "secret"}
        self.anonymous = anonymous
        self.cert, self.key = self_signed(tmpdir, "token", "capsa-test-token")
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True, timeout=30).stdout
        self.x5c = base64.b64encode(der).decode()
        self._serve(_TokenHandler)
        self.realm = f"http://{self.host}/token"

    def user(self, authorization):
        """The user basic auth names when the password is right, else None."""
        if not authorization or not authorization.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.users.get(user) == pw else None

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        payload = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=payload.encode(), check=True, capture_output=True,
                             timeout=30).stdout
        return payload + "." + _b64url(sig)

    def token(self, user, scopes):
        access = []
        for s in scopes:
            kind, _, rest = s.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and name and user:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        return self.sign({"iss": self.ISSUER, "sub": user or "", "aud": self.SERVICE,
                          "exp": now + 600, "nbf": now - 60, "iat": now - 60,
                          "jti": uuid.uuid4().hex, "access": access})


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        ts = self.server_owner
        ts.requests.append((self.path, dict(self.headers)))
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path != "/token" or q.get("service") != [ts.SERVICE]:
            return _reply(self, 400, b'{"details": "bad token request"}')
        user = ts.user(self.headers.get("Authorization"))
        if not user and not (ts.anonymous and not self.headers.get("Authorization")):
            return _reply(self, 401, b'{"details": "who are you?"}',
                          [("WWW-Authenticate", 'Basic realm="capsa-test-token"')])
        body = ts.answer or json.dumps({"token": ts.token(user, q.get("scope", [])),
                                        "expires_in": 600}).encode()
        _reply(self, 200, body, [("Content-Type", "application/json")])


# ---- docker-registry --------------------------------------------------------------------------


class Registry:
    def __init__(self, tmpdir, tls=False, token=None):
        self.dir = Path(tmpdir) / f"registry-{uuid.uuid4().hex[:8]}"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.cert = None
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.dir / 'data'}",
                 "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{self.port}",
                 "  secret: capsa-test"]
        if tls:
            self.cert, key = self_signed(self.dir, "tls", "127.0.0.1",
                                         "IP:127.0.0.1,DNS:localhost")
            lines += ["  tls:", f"    certificate: {self.cert}", f"    key: {key}"]
        if token:
            lines += ["auth:", "  token:", f"    realm: {token.realm}",
                      f"    service: {token.SERVICE}", f"    issuer: {token.ISSUER}",
                      f"    rootcertbundle: {token.cert}"]
        (self.dir / "config.yml").write_text("\n".join(lines) + "\n")
        self.log = open(self.dir / "registry.log", "w")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.dir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not listen on {self.host}: {self.logs()}")

    def logs(self):
        try:
            return (self.dir / "registry.log").read_text()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None


def push(layout, dest, creds=None, all_=False, fmt=None, ref="latest"):
    """skopeo copy oci:LAYOUT:REF docker://DEST (TLS unverified, or plain HTTP)."""
    argv = [SKOPEO_BIN, "copy", "--quiet", "--dest-tls-verify=false"]
    if creds:
        argv += ["--dest-creds", creds]
    if all_:
        argv += ["--all"]
    if fmt:
        argv += ["--format", fmt]
    argv += [f"oci:{layout}:{ref}", f"docker://{dest}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {r.stderr}")


# ---- fault injection --------------------------------------------------------------------------


def _kind(path):
    if "/manifests/" in path:
        return "manifests"
    if "/blobs/" in path:
        return "blobs"
    return "other"


class FaultProxy(_Server):
    HOP = {"connection", "keep-alive", "transfer-encoding", "host"}

    def __init__(self, upstream):
        self.upstream = upstream  # "127.0.0.1:PORT", plain HTTP
        self.status = {}
        self.drop_blob = None
        self.corrupt_blob = False
        self.corrupt_manifest = 0
        self.manifest_type = None
        self.headers = {}
        self.drop_headers = set()
        self.stall_blob = False
        self.redirect_blobs = None
        self.basic = None
        self.stalled = threading.Event()
        self._serve(_ProxyHandler)

    def stop(self):
        self.stalled.set()
        super().stop()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        px = self.server_owner
        px.requests.append(("GET", self.path, dict(self.headers)))
        kind = _kind(self.path)
        if px.basic and not self._basic_ok(px.basic):
            return _reply(self, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"who?"}]}',
                          [("WWW-Authenticate", 'Basic realm="capsa-test"')])
        if kind in px.status:
            code = px.status[kind]
            return _reply(self, code, b'{"errors":[{"code":"INJECTED","message":"injected by '
                          b'the test proxy"}]}',
                          [("Content-Type", "application/json")] + px.headers.get(kind, []))
        if kind == "blobs" and px.redirect_blobs:
            digest = self.path.rsplit("/", 1)[1]
            where = f"http://{px.redirect_blobs.host}/blobs/{digest.replace(':', '/')}?sig=x"
            return _reply(self, 307, b"", [("Location", where)])
        self._forward(px, kind)

    def _basic_ok(self, creds):
        want = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        return self.headers.get("Authorization") == want

    def _forward(self, px, kind):
        c = http.client.HTTPConnection(px.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in FaultProxy.HOP}
        if px.basic:
            headers.pop("Authorization", None)
        c.request("GET", self.path, headers=headers)
        r = c.getresponse()
        body = r.read()
        c.close()
        if kind == "manifests" and px.corrupt_manifest and r.status == 200:
            body = body + b" " * px.corrupt_manifest
        if kind == "blobs" and px.corrupt_blob and r.status in (200, 206) and body:
            body = bytes([body[0] ^ 1]) + body[1:]
        self.send_response(r.status)
        drop = FaultProxy.HOP | {"content-length"} | {h.lower() for h in px.drop_headers}
        for k, v in r.getheaders():
            if kind == "manifests" and px.manifest_type and k.lower() == "content-type":
                v = px.manifest_type
            if k.lower() not in drop:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "blobs" and r.status in (200, 206) and px.stall_blob:
            px.stall_blob = False
            px.stalled.wait(120)
            return self._cut()
        if (kind == "blobs" and r.status in (200, 206) and px.drop_blob
                and self.path.endswith("/" + px.drop_blob[0])):
            n = px.drop_blob[1]
            px.drop_blob = None
            self.wfile.write(body[:n])
            self.wfile.flush()
            return self._cut()
        self.wfile.write(body)

    def _cut(self):
        """Ends the connection midway through the body: a FIN before Content-Length bytes, then
        waits for the client to give up (so that what was sent is what it received, however
        slow it is), and closes."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(60)
            while self.connection.recv(65536):
                pass
        except OSError:
            pass


class BlobStore(_Server):
    def __init__(self, layout):
        self.layout = Path(layout)
        self._serve(_BlobHandler)


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        bs = self.server_owner
        bs.requests.append(("GET", self.path, dict(self.headers)))
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        if len(parts) != 4 or parts[1] != "blobs" or parts[2] != "sha256":
            return _reply(self, 404)
        f = bs.layout / "blobs" / "sha256" / parts[3]
        if not f.is_file():
            return _reply(self, 404)
        data = f.read_bytes()
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return _reply(self, 416)
            return _reply(self, 206, data[start:],
                          [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")])
        _reply(self, 200, data, [("Content-Type", "application/octet-stream")])
