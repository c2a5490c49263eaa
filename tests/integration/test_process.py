"""process.*: what the container's process sees (via capsa-checker)."""

import pytest

from conftest import CHECKER, IS_CAPSA


def test_args_passed(runtime, bundle):
    b = bundle()
    b.process["args"] = ["/bin/sh", "-c", 'echo "$0|$1|$2"', "zero", "one two", "three"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert r.out == "zero|one two|three\n"


def test_env(runtime, bundle):
    b = bundle()
    b.process["env"] = ["PATH=/bin", "CAPSA_TEST=hello world", "EMPTY="]
    env = runtime.check(b, "env")["env"]
    assert "CAPSA_TEST=hello world" in env
    assert "EMPTY=" in env
    assert "PATH=/bin" in env
    assert not any(e.startswith("TERM=") for e in env)


@pytest.mark.parametrize("uid,home", [(0, "/root"), (1000, "/home/user"), (4242, "/")])
def test_home_from_passwd_when_unset(runtime, bundle, uid, home):
    """As runc: without HOME in process.env, HOME is the user's home from the container's
    /etc/passwd, or / for a user without an entry; a HOME in the config is kept."""
    b = bundle()
    b.process["env"] = ["PATH=/bin"]
    b.process["user"] = {"uid": uid, "gid": uid}
    assert f"HOME={home}" in runtime.check(b, "env")["env"]
    b.process["env"] = ["PATH=/bin", "HOME=/srv"]
    env = runtime.check(b, "env")["env"]
    assert "HOME=/srv" in env and f"HOME={home}" not in env


def test_cwd(runtime, bundle):
    b = bundle()
    b.process["cwd"] = "/home/user"
    assert runtime.check(b, "cwd")["cwd"] == "/home/user"


def test_cwd_created_when_missing(runtime, bundle):
    b = bundle()
    b.process["cwd"] = "/does/not/exist"
    assert runtime.check(b, "cwd")["cwd"] == "/does/not/exist"


def test_user_uid_gid_groups(runtime, bundle):
    b = bundle()
    b.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 65534]}
    ids = runtime.check(b, "ids")
    assert ids["uid"] == 1000 and ids["euid"] == 1000
    assert ids["gid"] == 1000 and ids["egid"] == 1000
    assert sorted(ids["groups"]) == [5, 65534] or sorted(ids["groups"]) == [5, 1000, 65534]


def test_user_root_default(runtime, bundle):
    ids = runtime.check(bundle(), "ids")
    assert ids["uid"] == 0 and ids["gid"] == 0


def test_umask(runtime, bundle):
    b = bundle()
    b.process["user"]["umask"] = 0o027
    assert runtime.check(b, "umask")["umask"] == "0027"


def test_umask_default_022(runtime, bundle):
    assert runtime.check(bundle(), "umask")["umask"] == "0022"


def test_rlimits(runtime, bundle):
    b = bundle()
    b.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000},
    ]
    lim = runtime.check(b, "rlimits")
    assert lim["RLIMIT_NOFILE"] == {"soft": 256, "hard": 512}
    assert lim["RLIMIT_CORE"] == {"soft": 0, "hard": 0}
    assert lim["RLIMIT_NPROC"] == {"soft": 1000, "hard": 2000}


def test_oom_score_adj_raised(runtime, bundle):
    b = bundle()
    b.process["oomScoreAdj"] = 500
    assert runtime.check(b, "oom")["oom_score_adj"] == 500


CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_SYS_ADMIN": 21}


def mask(*names):
    return "%016x" % sum(1 << CAP[n] for n in names)


def test_capabilities_five_sets(runtime, bundle):
    b = bundle()
    b.process["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],
    }
    caps = runtime.check(b, "caps")
    assert caps["bounding"] == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert caps["effective"] == mask("CAP_CHOWN", "CAP_KILL")
    assert caps["permitted"] == mask("CAP_CHOWN", "CAP_KILL")
    assert caps["inheritable"] == mask("CAP_KILL")
    assert caps["ambient"] == mask("CAP_KILL")


def test_capabilities_nonroot_ambient(runtime, bundle):
    b = bundle()
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["capabilities"] = {s: ["CAP_NET_BIND_SERVICE"] for s in
                                 ("bounding", "effective", "permitted", "inheritable", "ambient")}
    caps = runtime.check(b, "caps")
    assert caps["effective"] == mask("CAP_NET_BIND_SERVICE")
    assert caps["ambient"] == mask("CAP_NET_BIND_SERVICE")


def test_capabilities_dropped_denies(runtime, bundle):
    b = bundle()
    b.config["root"]["readonly"] = False
    b.process["capabilities"] = {s: ["CAP_KILL"] for s in ("bounding", "effective", "permitted")}
    assert runtime.check(b, "syscall", "mount")["result"] == "EPERM"
    assert runtime.check(b, "syscall", "sethostname", "x")["result"] == "EPERM"


def test_capability_runtime_lacks_is_error(runtime, bundle):
    # CAP_SYS_RESOURCE is not in this host's bounding set (HOST.md)
    with open("/proc/self/status") as f:
        bnd = int([l for l in f if l.startswith("CapBnd:")][0].split()[1], 16)
    if bnd & (1 << 24):
        pytest.skip("this host has CAP_SYS_RESOURCE; nothing to refuse")
    b = bundle()
    for s in ("bounding", "effective", "permitted"):
        b.process["capabilities"][s] = ["CAP_KILL", "CAP_SYS_RESOURCE"]
    r = runtime.run(b)
    assert r.rc != 0, r
    if IS_CAPSA:
        assert "CAP_SYS_RESOURCE" in r.err, r


def test_no_new_privileges(runtime, bundle):
    b = bundle()
    b.process["noNewPrivileges"] = True
    assert runtime.check(b, "nnp")["nnp"] == 1
    b = bundle()
    b.process["noNewPrivileges"] = False
    assert runtime.check(b, "nnp")["nnp"] == 0


def seccomp_cfg(*rules, default="SCMP_ACT_ALLOW"):
    return {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": list(rules)}


def test_seccomp_errno(runtime, bundle):
    b = bundle()
    b.config["root"]["readonly"] = False
    b.linux["seccomp"] = seccomp_cfg(
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18})
    assert runtime.check(b, "seccomp")["seccomp"] == 2
    assert runtime.check(b, "syscall", "mkdir", "/tmp/x")["result"] == "EXDEV"
    assert runtime.check(b, "syscall", "getcwd")["result"] == "OK"


def test_seccomp_errno_default_eperm(runtime, bundle):
    b = bundle()
    b.linux["seccomp"] = seccomp_cfg({"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"})
    assert runtime.check(b, "syscall", "sethostname", "x")["result"] == "EPERM"


def test_seccomp_arg_comparison(runtime, bundle):
    b = bundle()
    b.linux["seccomp"] = seccomp_cfg(
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]})
    assert runtime.check(b, "syscall", "personality", "8")["result"] == "EDOM"
    assert runtime.check(b, "syscall", "personality", "0xffffffff")["result"] == "OK"


def test_seccomp_masked_eq(runtime, bundle):
    b = bundle()
    b.linux["seccomp"] = seccomp_cfg(
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
         "args": [{"index": 0, "value": 0xff, "valueTwo": 0x08, "op": "SCMP_CMP_MASKED_EQ"}]})
    assert runtime.check(b, "syscall", "personality", "0x108")["result"] == "EDOM"
    assert runtime.check(b, "syscall", "personality", "0xffffffff")["result"] == "OK"


def test_seccomp_default_errno_allowlist(runtime, bundle):
    # deny by default: a real allow list of what the checker needs, everything else ENOSYS
    b = bundle()
    b.linux["seccomp"] = seccomp_cfg(
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        default="SCMP_ACT_ALLOW")
    assert runtime.check(b, "syscall", "personality")["result"] == "ENOSYS"


def test_seccomp_kill_exit_code(runtime, bundle):
    b = bundle()
    b.linux["seccomp"] = seccomp_cfg({"names": ["getcwd"], "action": "SCMP_ACT_KILL"})
    b.process["args"] = [CHECKER, "syscall", "getcwd"]
    r = runtime.run(b)
    assert r.rc == 128 + 31, r
