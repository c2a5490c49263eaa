#!/usr/bin/env python3
"""Soak test of the runtime's create/delete paths: SIGKILL it at random instants, force-delete,
check that nothing leaked; then clean create/start/stop/delete cycles, checked the same way.

Full run (300 killed + 200 clean cycles, as root, from the repository):

    sudo tests/soak/soak.py
    sudo tests/soak/soak.py --killed 300 --clean 200 --capsa build/capsa --seed 1234

CI runs a short version (40 + 20) through tests/integration/test_soak.py; SOAK_FULL=1 there runs
the full one.  python3 standard library only.  The same --seed replays the same cycles (variant,
command, kill instant); the prefix of the container ids is random per run.

Killed cycles.  Each picks, with the seeded RNG, a bundle variant, a command (`create`,
`run -d`, or a foreground `run`) and a kill instant uniform in [0, --max-delay-ms) after the
runtime was started (after exec: Popen returns once the child has exec'd); the runtime process
(only it, by pid) is SIGKILLed at that instant unless it has already exited, then
`delete --force ID` runs and the leak checks follow.
Clean cycles.  create, state, start, then either the process exits by itself or `kill ID KILL`,
wait for `stopped`, `delete ID`; every step must succeed; the leak checks follow.
Bundle variants.  plain (pid, net, ipc, uts, mount namespaces; read-only busybox rootfs),
userns (plus a user namespace with uid/gid mappings, the rootfs chowned to the mapped root),
limits (memory + pids limits and an explicit relative cgroupsPath), hook (a prestart hook that
sleeps --hook-sleep-ms, 20 ms, on the host), all (the three together).

Leak checks after every cycle (a finding must persist for --grace seconds to count as a leak):
  state     ROOT/ID still there (a private --root under /run);
  mount     a line of /proc/self/mountinfo naming the work dir, the state root or the id that
            was not in the baseline;
  cgroup    a directory whose name holds the run's id prefix, beneath the harness's own cgroup
            or at the root of any mounted hierarchy (v1 controllers, name=systemd, unified);
            the processes still in it are listed;
  process   a process whose cmdline names the state root (a runtime still alive), the work dir
            or the id prefix, whose root or cwd is in the work dir, or a live child of the
            harness that it did not start (the harness is a child subreaper, so a container
            init or hook orphaned by the kill is reparented to it; dead ones are reaped);
  fd        the harness's own fd count above its baseline;
and every --deep-every cycles and at the end also:
  fd        any process with an fd into the state root or the work dir (/proc/*/fd);
  mount     a process in another mount namespace whose mountinfo names the work dir;
  cgroup    a full walk of every hierarchy for the id prefix.
At the end: `list --root ROOT` is empty, ROOT holds nothing, no runtime process started by the
harness is alive, the harness has no zombie child.

The summary counts what each kill left for delete --force (state dir, state.json, cgroup, live
orphans), i.e. which create phases the kills hit.  Known: a prestart hook that is running when the
runtime is killed outlives `delete --force` (an orphan on the host); the default 20 ms hook ends by
itself within the grace period, `--hook-sleep-ms 5000` makes it a reported leak.

Exit status: 0 when no leak was found and every clean step succeeded, 1 otherwise, 2 when the
harness could not set up.  The last line is `soak: K killed + C clean cycles, N leaks`.
"""

import argparse
import copy
import ctypes
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PR_SET_CHILD_SUBREAPER = 36
USERNS_BASE = 400000  # host ids of the userns variant's container root (nobody owns them)
VARIANTS = ["plain", "userns", "limits", "hook", "all"]
KILL_MODES = ["create", "run-d", "run"]
STEP_TIMEOUT = 30

sys.path.insert(0, str(REPO / "tests" / "integration"))
from runcspec import RUNC_SPEC  # noqa: E402  (stdlib only, shared with conftest.py)


def base_config(args, rootfs):
    """`runc spec`'s defaults (as the integration tests'), no terminal, no cgroup resources."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["root"]["path"] = str(rootfs)
    cfg["hostname"] = "soak"
    cfg["linux"].pop("resources", None)
    return cfg


def read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def proc_stat(pid):
    """(state, ppid) of PID, or None."""
    s = read(f"/proc/{pid}/stat")
    if not s:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Finding:
    def __init__(self, kind, key, detail, pid=None, path=None):
        self.kind, self.key, self.detail, self.pid, self.path = kind, key, detail, pid, path

    def __str__(self):
        return f"{self.kind}: {self.detail}"


class Soak:
    def __init__(self, opts):
        self.o = opts
        self.capsa = str(Path(opts.capsa).resolve())
        self.rng = random.Random(opts.seed)
        self.prefix = f"soak-{secrets.token_hex(3)}"
        self.me = os.getpid()
        self.leaks = []      # (cycle description, [findings])
        self.failures = []   # (cycle description, message)
        self.started = {}    # pid -> Popen of runtime processes not yet reaped
        self.all_started = []
        self.orphans_reaped = 0
        self.transient = 0
        self.stats = {}
        self.ids = []
        self.left = {}       # what the kills left for delete --force -> cycles

    # ---- setup ------------------------------------------------------------------------------

    def setup(self):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise SystemExit(f"soak: prctl(PR_SET_CHILD_SUBREAPER): "
                             f"{os.strerror(ctypes.get_errno())}")
        self.work = Path(tempfile.mkdtemp(prefix="capsa-soak-", dir="/tmp"))
        os.chmod(self.work, 0o755)
        self.root = Path(tempfile.mkdtemp(prefix="capsa-soak-", dir="/run"))
        os.chmod(self.root, 0o711)
        self.rootfs = self.work / "rootfs"
        r = subprocess.run([str(REPO / "tools" / "mkrootfs.sh"), str(self.rootfs)],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"soak: mkrootfs.sh failed: {r.stderr}")
        self.userns_rootfs = self.work / "rootfs-userns"
        subprocess.run(["cp", "-a", str(self.rootfs), str(self.userns_rootfs)], check=True,
                       timeout=60)
        subprocess.run(["chown", "-R", "-h", f"{USERNS_BASE}:{USERNS_BASE}",
                        str(self.userns_rootfs)], check=True, timeout=60)
        self.bundles = {}
        for v in VARIANTS:
            b = self.work / f"bundle-{v}"
            b.mkdir()
            os.chmod(b, 0o755)
            self.bundles[v] = b
        self.err_path = self.work / "runtime.err"
        self.hierarchies = self.cgroup_hierarchies()
        self.mount_baseline = set(self.mount_lines(self.prefix))
        self.fd_baseline = len(os.listdir("/proc/self/fd"))

    def cgroup_hierarchies(self):
        """[(mountpoint, the harness's own cgroup dir there)] for every mounted hierarchy."""
        own = {}
        for line in read("/proc/self/cgroup").splitlines():
            hid, ctrls, path = line.split(":", 2)
            own[ctrls] = path
        out = []
        for line in read("/proc/self/mountinfo").splitlines():
            f = line.split()
            sep = f.index("-")
            fstype, mroot, mp = f[sep + 1], f[3], f[4]
            if fstype == "cgroup2":
                path = own.get("")
            elif fstype == "cgroup":
                opts = set(f[sep + 3].split(","))
                path = next((p for c, p in own.items() if c and set(c.split(",")) <= opts),
                            None)
            else:
                continue
            if path is None:
                continue
            rel = path[len(mroot):] if mroot != "/" and path.startswith(mroot) else path
            out.append((mp, os.path.normpath(mp + "/" + rel.lstrip("/"))))
        return out

    def config(self, variant, cid, args):
        rootfs = self.userns_rootfs if variant in ("userns", "all") else self.rootfs
        c = base_config(args, rootfs)
        if variant in ("userns", "all"):
            c["linux"]["namespaces"].append({"type": "user"})
            m = [{"containerID": 0, "hostID": USERNS_BASE, "size": 65536}]
            c["linux"]["uidMappings"] = m
            c["linux"]["gidMappings"] = m
        if variant in ("limits", "all"):
            c["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 64}}
            c["linux"]["cgroupsPath"] = f"{cid}-lim"
        if variant in ("hook", "all"):
            c["hooks"] = {"prestart": [{"path": "/bin/sh", "args": [
                "sh", "-c", f"sleep {self.o.hook_sleep_ms / 1000}", "soak-hook",
                str(self.work)]}]}
        b = self.bundles[variant]
        (b / "config.json").write_text(json.dumps(c))
        return b

    # ---- running the runtime ----------------------------------------------------------------

    def argv(self, *args):
        return [self.capsa, "--root", str(self.root)] + [str(a) for a in args]

    def call(self, *args):
        """Run the runtime to completion. Output goes to files, not pipes: a created container
        inherits the runtime's stdio and would hold a pipe open."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen(self.argv(*args), stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=err, text=True)
            self.started[p.pid] = p
            self.all_started.append(p)
            try:
                p.wait(timeout=STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            finally:
                self.started.pop(p.pid, None)
            out.seek(0)
            err.seek(0)
            rc = p.returncode if p.returncode != -signal.SIGKILL else "timeout"
            return rc, out.read(), err.read()

    def spawn(self, *args):
        err = open(self.err_path, "w")
        try:
            p = subprocess.Popen(self.argv(*args), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=err)
        finally:
            err.close()
        self.started[p.pid] = p
        self.all_started.append(p)
        return p

    def reap(self):
        """Reap dead children: the harness's own runtime processes through their Popen, any
        other (an orphan reparented to this subreaper) directly."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            p = self.started.pop(info.si_pid, None)
            if p is not None:
                p.wait()
            else:
                os.waitpid(info.si_pid, 0)
                self.orphans_reaped += 1

    def wait_status(self, cid, want, timeout=10):
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            self.reap()
            rc, out, err = self.call("state", cid)
            if rc == 0:
                try:
                    last = json.loads(out)
                except ValueError:
                    last = out
                if isinstance(last, dict) and last.get("status") == want:
                    return last
            else:
                last = err.strip()
            time.sleep(0.02)
        raise StepError(f"did not reach {want!r} in {timeout}s; last state: {last}")

    # ---- leak checks ------------------------------------------------------------------------

    def mount_lines(self, cid):
        needles = (str(self.work), str(self.root), cid)
        return [l for l in read("/proc/self/mountinfo").splitlines()
                if any(n in l for n in needles)]

    def cgroup_findings(self, deep):
        """Cgroups named after this run: beneath the harness's own cgroup and at the root of
        every hierarchy, or (deep) anywhere."""
        dirs = []
        for mp, own in self.hierarchies:
            if deep:
                for top, names, _ in os.walk(mp):
                    dirs += [os.path.join(top, n) for n in names if self.prefix in n]
                continue
            for top in dict.fromkeys([own, mp]):
                try:
                    names = os.listdir(top)
                except OSError:
                    continue
                dirs += [os.path.join(top, n) for n in names
                         if self.prefix in n and os.path.isdir(os.path.join(top, n))]
        found = []
        for d in dict.fromkeys(dirs):
            procs = []
            for sub, _, _ in os.walk(d):
                procs += (read(os.path.join(sub, "cgroup.procs")) or "").split()
            found.append(Finding("cgroup", d, f"{d} (processes: {' '.join(procs) or 'none'})",
                                 path=d))
        return found

    def process_findings(self, deep):
        found = []
        root, work = str(self.root), str(self.work)
        own_mnt = readlink("/proc/self/ns/mnt")
        for pid in pids():
            if pid == self.me or pid in self.started:
                continue
            st = proc_stat(pid)
            if st is None:
                continue
            state, ppid = st
            raw = read(f"/proc/{pid}/cmdline", binary=True) or b""
            cmd = raw.replace(b"\0", b" ").decode(errors="replace").strip()
            why = []
            if ppid == self.me and state not in "ZX":
                why.append("orphan child of the harness")
            if root in cmd:
                why.append("runtime process still alive")
            elif work in cmd or self.prefix in cmd:
                why.append("cmdline names the soak")
            for link in ("root", "cwd"):
                t = readlink(f"/proc/{pid}/{link}")
                if t and (t == work or t.startswith(work + "/")):
                    why.append(f"{link}={t}")
            if deep:
                for fd in os.listdir(f"/proc/{pid}/fd") if os.path.isdir(
                        f"/proc/{pid}/fd") else []:
                    t = readlink(f"/proc/{pid}/fd/{fd}")
                    if t and (t.startswith(root) or t.startswith(work + "/") or t == work):
                        found.append(Finding("fd", f"fd {pid} {t}",
                                             f"pid {pid} ({cmd[:80]}) fd {fd} -> {t}"))
                if readlink(f"/proc/{pid}/ns/mnt") not in (own_mnt, None):
                    mi = read(f"/proc/{pid}/mountinfo") or ""
                    if work + "/" in mi or root + "/" in mi:
                        why.append("its mount namespace mounts the work dir or state root")
            if why and state not in "ZX":
                found.append(Finding("process", f"pid {pid}",
                                     f"pid {pid} [{state}] ppid {ppid} ({cmd[:100]}): "
                                     f"{'; '.join(why)}", pid=pid))
        return found

    def findings(self, cid, deep):
        self.reap()
        found = []
        if cid and os.path.lexists(self.root / cid):
            entries = sorted(os.listdir(self.root / cid)) if (self.root / cid).is_dir() else []
            found.append(Finding("state", f"state {cid}",
                                 f"{self.root / cid} ({' '.join(entries)})",
                                 path=self.root / cid))
        for l in self.mount_lines(cid or self.prefix):
            if l not in self.mount_baseline:
                found.append(Finding("mount", l, l, path=l.split()[4]))
        found += self.cgroup_findings(deep)
        found += self.process_findings(deep)
        nfd = len(os.listdir("/proc/self/fd"))
        if nfd > self.fd_baseline:
            found.append(Finding("harness-fd", "harness fd",
                                 f"the harness has {nfd} fds, {self.fd_baseline} at start: "
                                 + " ".join(f"{fd}->{readlink(f'/proc/self/fd/{fd}')}"
                                            for fd in os.listdir("/proc/self/fd"))))
        return found

    def check(self, cid, desc, deep=False):
        """Leak check after a cycle; a finding must last --grace seconds to count."""
        end = time.monotonic() + self.o.grace
        found = self.findings(cid, deep)
        if found:
            self.transient += 1
            if self.o.verbose:
                print(f"soak: after {desc}, waiting out:\n    "
                      + "\n    ".join(str(f) for f in found), flush=True)
        while found and time.monotonic() < end:
            time.sleep(0.05)
            found = self.findings(cid, deep)
        if found:
            self.leaks.append((desc, found))
            print(f"soak: LEAK after {desc}:", flush=True)
            for f in found:
                print(f"    {f}", flush=True)
            self.scrub(found)
        return found

    def scrub(self, found):
        """Remove what a leak left (only what names this run), so later cycles start clean."""
        doomed = {f.pid for f in found if f.kind == "process" and f.pid}
        children = {}
        for pid in pids():
            st = proc_stat(pid)
            if st:
                children.setdefault(st[1], []).append(pid)
        todo = list(doomed)
        while todo:  # their descendants too (a hook's sleep, a container's children)
            for c in children.get(todo.pop(), []):
                if c not in doomed and c != self.me:
                    doomed.add(c)
                    todo.append(c)
        for pid in doomed:
            kill(pid)
        for f in found:
            if f.kind == "cgroup":
                for sub, _, _ in os.walk(f.path):
                    for pid in (read(os.path.join(sub, "cgroup.procs")) or "").split():
                        kill(int(pid))
        time.sleep(0.1)
        self.reap()
        for f in sorted((f for f in found if f.kind == "cgroup"), key=lambda f: -len(f.path)):
            for sub, _, _ in sorted(os.walk(f.path), key=lambda w: -len(w[0])):
                for _ in range(20):
                    try:
                        os.rmdir(sub)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)
        for f in reversed([f for f in found if f.kind == "mount"]):
            subprocess.run(["umount", "-l", f.path], capture_output=True, timeout=10)
        for f in found:
            if f.kind == "state":
                shutil.rmtree(f.path, ignore_errors=True)
        self.reap()

    # ---- cycles ------------------------------------------------------------------------------

    def count(self, key):
        self.stats[key] = self.stats.get(key, 0) + 1

    def killed_cycle(self, i):
        variant = self.rng.choice(VARIANTS)
        mode = self.rng.choice(KILL_MODES)
        delay = self.rng.uniform(0, self.o.max_delay_ms / 1000)
        cid = f"{self.prefix}-k{i}"
        self.ids.append(cid)
        b = self.config(variant, cid, ["sleep", "60"])
        args = {"create": ["create", "--bundle", b, cid],
                "run-d": ["run", "-d", "--bundle", b, cid],
                "run": ["run", "--bundle", b, cid]}[mode]
        p = self.spawn(*args)
        t0 = time.monotonic()
        time.sleep(max(0.0, t0 + delay - time.monotonic()))
        exited = p.poll() is not None
        if not exited:
            os.kill(p.pid, signal.SIGKILL)
        p.wait()
        self.started.pop(p.pid, None)
        at = time.monotonic() - t0
        phase = "exited before the kill" if exited else "killed"
        self.count(f"{mode} {phase}")
        desc = (f"killed cycle {i}: variant {variant}, `{mode}`, kill at {delay * 1000:.1f} ms "
                f"(sent at {at * 1000:.1f} ms), runtime {phase}"
                + (f" rc={p.returncode}" if exited else ""))
        if exited and p.returncode != 0:
            self.failures.append((desc, f"the runtime failed by itself: "
                                  f"{(read(self.err_path) or '').strip()}"))
        self.left_by_kill(cid)
        rc, out, err = self.call("delete", "--force", cid)
        if rc != 0:
            self.count(f"delete --force rc={rc}")
            desc += f"; delete --force rc={rc}: {err.strip()[:300]}"
        self.check(cid, desc, deep=self.deep_now(i))

    def clean_cycle(self, i):
        variant = self.rng.choice(VARIANTS)
        flavour = self.rng.choice(["exit", "kill"])
        cid = f"{self.prefix}-c{i}"
        self.ids.append(cid)
        args = ["sh", "-c", "exit 7"] if flavour == "exit" else ["sleep", "60"]
        b = self.config(variant, cid, args)
        desc = f"clean cycle {i}: variant {variant}, process {flavour}s"
        try:
            self.step("create", "--bundle", b, cid)
            st = self.wait_status(cid, "created")
            if not st.get("pid"):
                raise StepError(f"created state has no pid: {st}")
            self.step("start", cid)
            if flavour == "kill":
                self.step("kill", cid, "KILL")
            self.wait_status(cid, "stopped")
            self.step("delete", cid)
            if self.o.inject_leak and i == 0:
                desc += " (--inject-leak: created again, started and left running)"
                b = self.config(variant, cid, ["sleep", "60"])
                self.step("create", "--bundle", b, cid)
                self.step("start", cid)
                self.wait_status(cid, "running")
            self.count(f"clean {flavour} ok")
        except StepError as e:
            self.failures.append((desc, str(e)))
            print(f"soak: FAILED {desc}: {e}", flush=True)
            self.call("delete", "--force", cid)
        self.check(cid, desc, deep=self.deep_now(i))

    def left_by_kill(self, cid):
        """Counts what the kill left for delete --force (which phases the kills hit): the
        state dir, its state.json, the cgroup, live orphans (the container init, a hook)."""
        d = self.root / cid
        cg = any(cid in n for _, own in self.hierarchies for n in
                 (os.listdir(own) if os.path.isdir(own) else []))
        orphans = 0
        for pid in pids():
            st = proc_stat(pid) if pid not in self.started else None
            orphans += st is not None and st[1] == self.me and st[0] not in "ZX"
        key = (f"dir={int(d.is_dir())} state.json={int((d / 'state.json').exists())} "
               f"cgroup={int(cg)} live-orphans={min(orphans, 2)}")
        self.left[key] = self.left.get(key, 0) + 1

    def step(self, *args):
        rc, out, err = self.call(*args)
        if rc != 0:
            raise StepError(f"`{' '.join(str(a) for a in args)}` exited {rc}: {err.strip()}")

    def deep_now(self, i):
        return self.o.deep_every > 0 and (i + 1) % self.o.deep_every == 0

    # ---- the end ------------------------------------------------------------------------------

    def final_checks(self):
        found = self.check(None, "the last cycle (final deep check)", deep=True)
        rc, out, err = self.call("list", "--format", "json")
        try:
            listed = json.loads(out) if rc == 0 else err
        except ValueError:
            listed = out
        if isinstance(listed, list) and listed:
            self.leaks.append(("the end", [Finding("list", "list", f"`list` shows {listed}")]))
        elif not (isinstance(listed, list) or listed is None):  # runc prints null for none
            self.failures.append(("the end", f"`list --format json` rc={rc}: {out} {err}"))
        left = sorted(os.listdir(self.root)) if self.root.exists() else []
        if left:
            self.leaks.append(("the end", [Finding("state", "root",
                                                   f"{self.root} holds {' '.join(left)}")]))
        alive = [p.pid for p in self.all_started if p.poll() is None]
        if alive:
            self.leaks.append(("the end", [Finding("process", "runtime",
                                                   f"runtime processes alive: {alive}")]))
        zombies = [pid for pid in pids() if (proc_stat(pid) or ("", 0))[1] == self.me
                   and (proc_stat(pid) or ("",))[0] == "Z"]
        if zombies:
            self.leaks.append(("the end", [Finding("process", "zombies",
                                                   f"zombie children: {zombies}")]))
        return found

    def cleanup(self, aborted):
        for p in self.all_started:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not hasattr(self, "fd_baseline"):  # setup did not finish
            for d in (getattr(self, "work", None), getattr(self, "root", None)):
                if d:
                    shutil.rmtree(d, ignore_errors=True)
            return
        if aborted:  # the cycles did not finish: remove what they may have left
            print("soak: aborted; removing what the cycles left", flush=True)
            for cid in self.ids:
                if os.path.lexists(self.root / cid):
                    self.call("delete", "--force", cid)
            self.scrub(self.findings(None, deep=True))
        for l in reversed(self.mount_lines(self.prefix)):
            if l not in self.mount_baseline:
                subprocess.run(["umount", "-l", l.split()[4]], capture_output=True, timeout=10)
        if not self.o.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


class StepError(Exception):
    pass


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--killed", type=int, default=300, help="killed cycles (300)")
    ap.add_argument("--clean", type=int, default=200, help="clean cycles (200)")
    ap.add_argument("--capsa", default=str(REPO / "build" / "capsa"),
                    help="the runtime binary (build/capsa)")
    ap.add_argument("--seed", type=int, default=None, help="RNG seed (random, printed)")
    ap.add_argument("--max-delay-ms", type=float, default=50.0,
                    help="kill instants are uniform in [0, this) ms (50)")
    ap.add_argument("--hook-sleep-ms", type=float, default=20.0,
                    help="how long the prestart hook sleeps (20); past --grace, a hook "
                         "orphaned by the kill must be ended by delete --force")
    ap.add_argument("--grace", type=float, default=3.0,
                    help="seconds a finding must last to be a leak (3)")
    ap.add_argument("--deep-every", type=int, default=10,
                    help="the /proc/*/fd and full cgroup scans every N cycles (10; 0: at the "
                         "end only)")
    ap.add_argument("--verbose", action="store_true",
                    help="also print findings that went away within the grace period")
    ap.add_argument("--inject-leak", action="store_true",
                    help="self-test: after the first clean cycle, create its id again and leave it "
                         "running; the checks must report it")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (/tmp/capsa-soak-*)")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (containers, mounts, cgroups): sudo tests/soak/soak.py",
              file=sys.stderr)
        return 2
    if not os.access(opts.capsa, os.X_OK):
        print(f"soak: {opts.capsa} is not executable (--capsa PATH)", file=sys.stderr)
        return 2
    if opts.seed is None:
        opts.seed = secrets.randbelow(1 << 31)

    s = Soak(opts)
    t0 = time.monotonic()
    aborted = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too
    try:
        s.setup()
        print(f"soak: {s.capsa}, seed {opts.seed}, ids {s.prefix}-*, root {s.root}, "
              f"work {s.work}; setup {time.monotonic() - t0:.1f} s", flush=True)
        t1 = time.monotonic()
        every = max(1, (opts.killed + opts.clean) // 20)
        for i in range(opts.killed):
            s.killed_cycle(i)
            if (i + 1) % every == 0 or i + 1 == opts.killed:
                print(f"soak: killed {i + 1}/{opts.killed}, {len(s.leaks)} leaks, "
                      f"{time.monotonic() - t1:.1f} s", flush=True)
        t2 = time.monotonic()
        for i in range(opts.clean):
            s.clean_cycle(i)
            if (i + 1) % every == 0 or i + 1 == opts.clean:
                print(f"soak: clean {i + 1}/{opts.clean}, {len(s.leaks)} leaks, "
                      f"{len(s.failures)} failed, {time.monotonic() - t2:.1f} s", flush=True)
        s.final_checks()
        aborted = False
    finally:
        s.cleanup(aborted)
    total = time.monotonic() - t0
    print("soak: " + ", ".join(f"{k}: {v}" for k, v in sorted(s.stats.items())))
    print("soak: what the kills left for delete --force (cycles): " + ", ".join(
        f"[{k}] {v}" for k, v in sorted(s.left.items())))
    print(f"soak: orphans reaped {s.orphans_reaped}; checks that needed the grace period "
          f"{s.transient}")
    for desc, msg in s.failures:
        print(f"soak: FAILED {desc}: {msg}")
    if s.leaks:
        print(f"soak: {len(s.leaks)} leaking cycles (seed {opts.seed}):")
        for desc, found in s.leaks:
            print(f"  {desc}")
            for f in found:
                print(f"      {f}")
    print(f"soak: {total:.1f} s (killed {t2 - t1:.1f} s, clean {time.monotonic() - t2:.1f} s"
          f" incl. final checks)")
    nleaks = sum(len(f) for _, f in s.leaks)
    tail = f", {len(s.failures)} failed" if s.failures else ""
    print(f"soak: {opts.killed} killed + {opts.clean} clean cycles, {nleaks} leaks{tail}")
    return 1 if s.leaks or s.failures else 0


if __name__ == "__main__":
    sys.exit(main())
