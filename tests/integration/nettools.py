"""Network namespaces for the networking tests (test_net.py), and a tiny TCP/UDP peer.

TestNet makes two namespaces: the "test host" X, where the runtime runs (through
`nsenter --net=/run/netns/X`, not `ip netns exec`, which remounts /sys and hides the cgroups),
and an "other host" O joined to X by a veth pair:

    X: lo, uplink 192.0.2.1/24 (default route via 192.0.2.2)  <-veth->  O: eth0 192.0.2.2/24

Nothing here touches the namespace the tests are started in.  destroy() removes both namespaces
(and so everything made inside them) and is safe to call after a partial setup.

As a script (run inside a namespace with nsenter), a peer that prints JSON like the checker:
    python3 nettools.py tcp-serve PORT [N [SECONDS]]   {"listening":PORT} then {"peers":[..]}
    python3 nettools.py tcp-connect ADDR PORT [TIMEOUT_S]
    python3 nettools.py udp-send ADDR PORT MSG [TIMEOUT_S]
"""

import json
import os
import socket
import subprocess
import sys
import time
import uuid

UPLINK = "uplink"
HOST_IP = "192.0.2.1"
OTHER_IP = "192.0.2.2"
PREFIX = 24
HERE = os.path.dirname(os.path.abspath(__file__))


def sh(argv, check=True, timeout=20):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} -> rc={r.returncode}\n{r.stderr}")
    return r


class TestNet:
    def __init__(self):
        tag = uuid.uuid4().hex[:8]
        self.name = f"capsa-it-{tag}"
        self.other = f"capsa-it-{tag}-o"
        self.path = f"/run/netns/{self.name}"
        self.other_path = f"/run/netns/{self.other}"
        self.made = []

    def setup(self):
        for n in (self.name, self.other):
            sh(["ip", "netns", "add", n])
            self.made.append(n)
            sh(["ip", "-n", n, "link", "set", "lo", "up"])
        sh(["ip", "-n", self.name, "link", "add", UPLINK, "type", "veth", "peer", "name", "eth0",
            "netns", self.other])
        sh(["ip", "-n", self.name, "addr", "add", f"{HOST_IP}/{PREFIX}", "dev", UPLINK])
        sh(["ip", "-n", self.other, "addr", "add", f"{OTHER_IP}/{PREFIX}", "dev", "eth0"])
        sh(["ip", "-n", self.name, "link", "set", UPLINK, "up"])
        sh(["ip", "-n", self.other, "link", "set", "eth0", "up"])
        sh(["ip", "-n", self.name, "route", "add", "default", "via", OTHER_IP])
        return self

    def destroy(self):
        for n in reversed(self.made):
            subprocess.run(["ip", "netns", "delete", n], capture_output=True, timeout=20)
        self.made = []

    # ---- running things inside -------------------------------------------------------------

    def argv(self, *args, other=False):
        return ["nsenter", f"--net={self.other_path if other else self.path}"] + [
            str(a) for a in args]

    def run(self, *args, other=False, check=True, timeout=20):
        return sh(self.argv(*args, other=other), check=check, timeout=timeout)

    def peer(self, *args, other=False, timeout=20):
        """nettools.py CMD ARGS in X (or O); its JSON"""
        r = self.run(sys.executable, os.path.join(HERE, "nettools.py"), *args, other=other,
                     timeout=timeout)
        return json.loads(r.stdout)

    def serve(self, port, n=1, seconds=20, other=False):
        """A TCP server (nettools.py tcp-serve) in X (or O), listening when this returns;
        stop() kills it, result() waits for its JSON."""
        return Server(self.argv(sys.executable, os.path.join(HERE, "nettools.py"), "tcp-serve",
                                port, n, seconds, other=other))

    # ---- what is there ---------------------------------------------------------------------

    def links(self):
        """{name: ip -d -j link entry} of X"""
        r = self.run("ip", "-d", "-j", "link", "show")
        return {l["ifname"]: l for l in json.loads(r.stdout)}

    def addrs(self, ifname):
        r = self.run("ip", "-j", "addr", "show", "dev", ifname)
        return [f"{a['local']}/{a['prefixlen']}" for e in json.loads(r.stdout)
                for a in e.get("addr_info", [])]

    def ruleset(self):
        return self.run("nft", "-a", "list", "ruleset").stdout


class Server:
    def __init__(self, argv, timeout=10):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        line = self.p.stdout.readline()  # {"listening":PORT}
        if '"listening"' not in line:
            self.stop()
            raise AssertionError(f"server did not start: {line} {self.p.stderr.read()}")

    def result(self, timeout=30):
        out, err = self.p.communicate(timeout=timeout)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError(f"server output is not JSON: {out!r} {err!r}") from None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate(timeout=10)


# ---- the script side ---------------------------------------------------------------------------


def _listen(kind, port):
    try:
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    except OSError:
        s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    return s


def _peer(addr):
    return addr[0][7:] if addr[0].startswith("::ffff:") else addr[0]


def tcp_serve(port, n=1, seconds=20):
    s = _listen(socket.SOCK_STREAM, port)
    s.listen(16)
    print(json.dumps({"listening": port}), flush=True)
    end = time.monotonic() + seconds
    peers = []
    while len(peers) < n and time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            c, addr = s.accept()
        except socket.timeout:
            break
        peers.append(_peer(addr))
        c.sendall(f"hello from {socket.gethostname()}\n".encode())
        c.close()
    print(json.dumps({"peers": peers}), flush=True)


def _errname(e):
    import errno
    return errno.errorcode.get(e.errno, str(e)) if e.errno else "ETIMEDOUT"


def tcp_connect(addr, port, timeout=3.0):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        data = b""
        while True:
            b = s.recv(1024)
            if not b:
                break
            data += b
        res = {"result": "OK", "reply": data.decode(errors="replace"),
               "local": s.getsockname()[0]}
    except socket.timeout:
        res = {"result": "ETIMEDOUT"}
    except OSError as e:
        res = {"result": _errname(e)}
    print(json.dumps(res))


def udp_send(addr, port, msg, timeout=3.0):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.send(msg.encode())
        res = {"result": "OK", "reply": s.recv(2048).decode(errors="replace")}
    except socket.timeout:
        res = {"result": "ETIMEDOUT"}
    except OSError as e:
        res = {"result": _errname(e)}
    print(json.dumps(res))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "tcp-serve":
        tcp_serve(int(args[0]), int(args[1]) if len(args) > 1 else 1,
                  float(args[2]) if len(args) > 2 else 20)
    elif cmd == "tcp-connect":
        tcp_connect(args[0], int(args[1]), float(args[2]) if len(args) > 2 else 3.0)
    elif cmd == "udp-send":
        udp_send(args[0], int(args[1]), args[2], float(args[3]) if len(args) > 3 else 3.0)
    else:
        sys.exit(f"unknown command {cmd}")
