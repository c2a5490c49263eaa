#!/usr/bin/python3
"""Writes the seed corpus of the fuzzers into tests/fuzz/corpus/<reader>/ (run it again after a
format change; the output is committed).  Seeds: runc's default spec and the integration suite's
base config (tests/integration/conftest.py), variants with every section the parser knows, a
big seccomp profile (containers-common's seccomp.json turned into OCI form when installed), and
what `capsa spec` writes (CAPSA=path/to/capsa)."""

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from conftest import RUNC_SPEC, default_config  # noqa: E402

OUT = HERE / "corpus"


def put(reader, name, doc, indent=None):
    d = OUT / reader
    d.mkdir(parents=True, exist_ok=True)
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=indent)
    (d / name).write_text(text)


def seccomp_profile():
    """containers-common's Docker-format profile as an OCI linux.seccomp object."""
    src = Path("/usr/share/containers/seccomp.json")
    if not src.exists():
        return None
    d = json.loads(src.read_text())
    archs = []
    for m in d.get("archMap", []):
        archs += [m["architecture"]] + m.get("subArchitectures", [])
    out = {"defaultAction": d["defaultAction"], "architectures": archs[:3], "syscalls": []}
    if "defaultErrnoRet" in d:
        out["defaultErrnoRet"] = d["defaultErrnoRet"]
    for s in d["syscalls"]:
        e = {"names": s["names"], "action": s["action"]}
        if s.get("args"):
            e["args"] = s["args"]
        if "errnoRet" in s:
            e["errnoRet"] = s["errnoRet"]
        out["syscalls"].append(e)
    return out


RESOURCES = {
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "kernel": -1,
               "swappiness": 10, "disableOOMKiller": False, "useHierarchy": True},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "realtimeRuntime": 0,
            "realtimePeriod": 0, "cpus": "0-1", "mems": "0", "idle": 0},
    "pids": {"limit": 64},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300, "leafWeight": 10}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 99}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
    "rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}},
    "unified": {"memory.high": "1000000", "io.max": "8:0 rbps=1048576"},
}


def full_config():
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["process"].update({
        "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 6]},
        "apparmorProfile": "capsa-default", "selinuxLabel": "system_u:system_r:container_t:s0",
        "oomScoreAdj": -500, "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 3},
        "scheduler": {"policy": "SCHED_OTHER", "nice": -2},
    })
    cfg["hostname"] = "fuzz"
    cfg["domainname"] = "example.org"
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv",
                          "options": ["rbind", "ro"],
                          "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                          "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    cfg["hooks"] = {
        "prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}],
        "createRuntime": [{"path": "/bin/true"}], "createContainer": [{"path": "/bin/true"}],
        "startContainer": [{"path": "/bin/true"}], "poststart": [{"path": "/bin/true"}],
        "poststop": [{"path": "/bin/a"}, {"path": "/bin/b"}]}
    cfg["annotations"] = {"org.opencontainers.image.os": "linux", "run.capsa.tenant": "A"}
    lx = cfg["linux"]
    lx["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user", "cgroup",
                                              "time")] + [{"type": "network",
                                                           "path": "/proc/1/ns/net"}]
    lx["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    lx["timeOffsets"] = {"boottime": {"secs": -5, "nanosecs": 7}, "monotonic": {"secs": 9}}
    lx["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                      "fileMode": 438, "uid": 0, "gid": 0}]
    lx["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    lx["cgroupsPath"] = "/capsa/fuzz"
    lx["rootfsPropagation"] = "rslave"
    lx["mountLabel"] = "system_u:object_r:container_file_t:s0"
    lx["intelRdt"] = {"closID": "x"}
    lx["personality"] = {"domain": "LINUX"}
    lx["resources"] = copy.deepcopy(RESOURCES)
    lx["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                     "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                     "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                     "listenerPath": "/run/notify.sock", "listenerMetadata": "m",
                     "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                                  {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                                  {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                                   "args": [{"index": 0, "value": 2114060288,
                                             "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}
    return cfg


def main():
    runc = copy.deepcopy(RUNC_SPEC)
    put("config", "runc-spec.json", runc, indent="\t")
    put("config", "it-default.json", default_config(["/bin/capsa-checker", "ids"]), indent=1)
    full = full_config()
    put("config", "full.json", full, indent=1)
    prof = seccomp_profile()
    if prof:
        big = copy.deepcopy(default_config(["sh"]))
        big["linux"]["seccomp"] = prof
        put("config", "seccomp-containers-common.json", big)
    put("config", "comments.json", "/* comment */\n" + json.dumps(runc) + "\n// end\n")
    capsa = os.environ.get("CAPSA")
    if capsa:
        for extra in ([], ["--rootless"]):
            with tempfile.TemporaryDirectory() as d:
                subprocess.run([capsa, "spec", "--bundle", d] + extra, check=True)
                put("config", "capsa-spec%s.json" % ("-rootless" if extra else ""),
                    Path(d, "config.json").read_text())

    put("process", "runc.json", runc["process"])
    put("process", "full.json", full["process"], indent=1)
    put("process", "minimal.json", {"args": ["sh"], "cwd": "/"})
    put("process", "exec.json", {"args": ["/bin/capsa-checker", "env"], "env": ["ONLY=this"],
                                 "cwd": "/tmp", "user": {"uid": 0, "gid": 0}, "terminal": False,
                                 "capabilities": {"bounding": ["CAP_KILL"]},
                                 "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}],
                                 "noNewPrivileges": True})

    put("resources", "full.json", RESOURCES, indent=1)
    put("resources", "update.json", {"memory": {"limit": 48 << 20}, "pids": {"limit": 20}})
    put("resources", "cpu.json", {"cpu": {"shares": 256, "quota": 20000, "period": 100000}})

    state = {"ociVersion": "1.2.0", "id": "c1", "pid": 4242, "pidStartTime": 123456,
             "bundle": "/b", "rootfs": "/b/rootfs", "created": "2026-01-01T00:00:00.000000000Z",
             "owner": "", "creating": False, "systemdCgroup": False, "cgroupDriver": "cgroupfs",
             "cgroupDirs": ["/sys/fs/cgroup/memory/capsa/c1", "/sys/fs/cgroup/pids/capsa/c1"],
             "annotations": {"run.capsa.tenant": "A", "k": "v"}}
    put("state", "state.json", state)
    put("state", "minimal.json", {"id": "c1", "pid": 1})

    put("tenants", "two.json", {"tenants": [{"name": "A", "firstId": 200000, "size": 65536},
                                            {"name": "B", "firstId": 265536, "size": 65536}]},
        indent=4)
    put("tenants", "empty.json", {"tenants": []})


if __name__ == "__main__":
    main()
