"""Shell completion (completion/capsa.bash, completion/_capsa), driven for real.

bash: the completion function _capsa is called with COMP_WORDS, COMP_CWORD, COMP_LINE and
COMP_POINT split as bash splits a line (COMP_WORDBREAKS: `--root=/x` is `--root` `=` `/x`),
against the capsa under test: commands, subcommands, every command's flags, the values of
flags, and the container ids, images and networks of a temporary state root and image store.

zsh: the file must parse (`zsh -n`), its _arguments specs are read through zsh itself, and a
few lines are completed in an interactive zsh (zsh/zpty) with compinit.

The truth about flags comes from the code, not from a list in this file: every getopt_long
table a command passes (recorded by a small LD_PRELOAD shim around getopt_long while the
command prints its --help) and its optstring, minus the flags the command then refuses
("unknown option"; create shares run's table).  A flag the code accepts that completion lacks,
one completion offers that the code refuses, and a flag whose value completion would not
expect (or would expect wrongly) all fail."""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import CAPSA, CHECKER, REPO

pytestmark = pytest.mark.capsa_only

BASH_FILE = REPO / "completion" / "capsa.bash"
ZSH_FILE = REPO / "completion" / "_capsa"
SEP = "--8<--"

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

/* Records each long-option table (and its optstring) a process hands to getopt_long in
 * $GETOPT_DUMP: "table OPTSTRING" then "NAME HAS_ARG" lines. */
int getopt_long(int argc, char *const argv[], const char *optstring,
                const struct option *longopts, int *longindex)
{
        static const struct option *seen;
        static int (*real)(int, char *const[], const char *, const struct option *, int *);
        if (!real)
                real = (int (*)(int, char *const[], const char *, const struct option *,
                                int *))dlsym(RTLD_NEXT, "getopt_long");
        const char *path = getenv("GETOPT_DUMP");
        if (longopts != seen && path) {
                FILE *f = fopen(path, "a");
                seen = longopts;
                if (f) {
                        fprintf(f, "table %s\n", optstring);
                        for (const struct option *o = longopts; o && o->name; o++)
                                fprintf(f, "%s %d\n", o->name, o->has_arg);
                        fclose(f);
                }
        }
        return real(argc, argv, optstring, longopts, longindex);
}
"""


# ---- what the code accepts -------------------------------------------------------------------


class Flags:
    """The flags of one command: names ('-b', '--bundle') and those that take a value."""

    def __init__(self):
        self.all, self.arg = set(), set()

    def __repr__(self):
        return f"<all {sorted(self.all)} arg {sorted(self.arg)}>"


def _capsa(args, tmp, env=None):
    return subprocess.run([CAPSA, "--root", str(tmp / "root"), "--image-root",
                           str(tmp / "images"), *args], capture_output=True, text=True,
                          cwd=tmp, stdin=subprocess.DEVNULL, timeout=30, env=env)


def _tables(ctx, tmp, shim):
    """The getopt_long tables `capsa CTX --help` used, after the global options' own."""
    dump = tmp / "getopt.dump"
    dump.unlink(missing_ok=True)
    p = _capsa([*ctx, "--help"], tmp, dict(os.environ, LD_PRELOAD=str(shim),
                                            GETOPT_DUMP=str(dump)))
    tables = []
    for line in (dump.read_text().splitlines() if dump.exists() else []):
        if line.startswith("table "):
            tables.append((line[6:], {}))
        else:
            name, has_arg = line.rsplit(" ", 1)
            tables[-1][1][name] = int(has_arg)
    return tables, p


def _refused(ctx, flag, tmp):
    p = _capsa([*ctx, flag], tmp)
    return "unknown option" in p.stderr


@pytest.fixture(scope="session")
def code(workdir):
    """{context tuple: Flags} for the global options, each command and each subcommand, as
    the code accepts them, plus the command and subcommand names capsa's help and errors
    list."""
    tmp = Path(tempfile.mkdtemp(prefix="compl-code-", dir=workdir))
    src = tmp / "shim.c"
    src.write_text(SHIM)
    shim = tmp / "getopt-shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(shim), str(src), "-ldl"],
                   check=True, capture_output=True, timeout=120)
    help_out = subprocess.run([CAPSA, "--help"], capture_output=True, text=True,
                              timeout=30).stdout
    commands = re.findall(r"^  (\S+)\s", help_out.split("Commands:", 1)[1], re.M)
    subs = {}
    for cmd in commands:
        m = re.search(r"unknown subcommand `zzz` \(([^)]*)\)",
                      _capsa([cmd, "zzz"], tmp).stderr)
        if m:
            subs[cmd] = re.split(r", | or ", m.group(1))
    contexts = [()] + [(c,) for c in commands if c != "help"] + \
        [(c, s) for c in subs for s in subs[c]]
    flags = {}
    for ctx in contexts:
        tables, p = _tables(ctx, tmp, shim)
        f = Flags()
        if ctx == ():
            optstring, longs = tables[0]
        elif len(tables) > 1:
            optstring, longs = tables[-1]
        else:  # no getopt: --help and -h by hand, or nothing
            if p.returncode == 0 and p.stdout:
                f.all = {"-h", "--help"}
            flags[ctx] = f
            continue
        for name, has_arg in longs.items():
            f.all.add("--" + name)
            if has_arg == 1:  # required_argument (optional ones go as --flag=VALUE)
                f.arg.add("--" + name)
        for m in re.finditer(r"([A-Za-z])(:?)", optstring):
            f.all.add("-" + m.group(1))
            if m.group(2):
                f.arg.add("-" + m.group(1))
        for flag in sorted(f.all):
            if ctx and _refused(ctx, flag, tmp):
                f.all.discard(flag)
                f.arg.discard(flag)
        flags[ctx] = f
    shutil.rmtree(tmp, ignore_errors=True)
    assert flags[("run",)].all > flags[("create",)].all  # run's own: --detach, --keep, ...
    return {"flags": flags, "commands": commands, "subs": subs}


# ---- driving bash's completion ---------------------------------------------------------------

BASH_DRIVER = r"""
source "$1"
# complete LINE (the cursor at its end) as bash would: words split at blanks, = and :
comp() {
        local line=$1 rest
        COMP_LINE=$line COMP_POINT=${#line} COMP_WORDS=() COMPREPLY=()
        rest=$line
        while [[ -n $rest ]]; do
                if [[ $rest =~ ^[[:space:]]+ ]]; then
                        rest=${rest:${#BASH_REMATCH}}
                        continue
                fi
                [[ $rest =~ ^[=:]+ ]] || [[ $rest =~ ^[^[:space:]=:]+ ]]
                COMP_WORDS+=("$BASH_REMATCH")
                rest=${rest:${#BASH_REMATCH}}
        done
        [[ -z $line || $line == *[[:space:]] ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _capsa
        printf '%s\n' "${COMPREPLY[@]}"
        echo '""" + SEP + r"""'
}
while IFS= read -r line; do comp "$line"; done
"""


def bash_complete(lines, env=None, cwd=None):
    """The replies of _capsa for each line (the cursor at its end), as lists."""
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "driver",
                        str(BASH_FILE)], input="".join(l + "\n" for l in lines),
                       capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    assert p.returncode == 0, p.stderr
    blocks = p.stdout.split(SEP + "\n")
    assert len(blocks) == len(lines) + 1, (p.stdout, p.stderr)
    return [[w for w in b.split("\n") if w] for b in blocks[:-1]]


@pytest.fixture(scope="module")
def capsa_env():
    """PATH with the capsa under test first: the lines say `capsa`, as users type it."""
    d = Path(tempfile.mkdtemp(prefix="compl-bin-"))
    (d / "capsa").symlink_to(Path(CAPSA).resolve())
    yield dict(os.environ, PATH=f"{d}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    shutil.rmtree(d, ignore_errors=True)


def ctx_line(ctx):
    return " ".join(("capsa",) + ctx)


def test_bash_file_parses():
    p = subprocess.run(["bash", "-n", str(BASH_FILE)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr


def test_commands_and_subcommands(code, capsa_env):
    want = set(code["commands"])
    assert {"create", "run", "exec", "image", "net", "help"} <= want
    lines = ["capsa ", "capsa --debug ", "capsa --root /tmp ", "capsa --root=/tmp ",
             "capsa help "] + [f"capsa {c} " for c in code["subs"]]
    got = bash_complete(lines, env=capsa_env)
    for line, reply in zip(lines[:5], got[:5]):
        assert set(reply) == want, (line, reply)
    for c, reply in zip(code["subs"], got[5:]):
        assert set(reply) == set(code["subs"][c]), (c, reply)
    assert bash_complete(["capsa ch", "capsa image pu"], env=capsa_env) == \
        [["checkpoint"], ["pull"]]


def test_flags_match_the_code(code, capsa_env):
    """For each command: `capsa CMD -<TAB>` offers exactly the flags the code accepts."""
    ctxs = sorted(code["flags"])
    got = bash_complete([ctx_line(c) + " -" for c in ctxs], env=capsa_env)
    problems = []
    for ctx, reply in zip(ctxs, got):
        want = code["flags"][ctx].all
        if set(reply) != want:
            problems.append(f"{ctx_line(ctx)}: missing {sorted(want - set(reply))}, "
                            f"not accepted {sorted(set(reply) - want)}")
    assert not problems, "\n".join(problems)
    # a prefix narrows
    assert bash_complete(["capsa run --no-", "capsa update --cpu-r"], env=capsa_env) == \
        [["--no-pivot", "--no-new-keyring", "--no-subreaper"],
         ["--cpu-rt-runtime", "--cpu-rt-period"]]


def test_flag_values_are_expected_where_the_code_takes_them(code, capsa_env):
    """After a flag that takes a value, the next word is that value (no flags offered);
    after one that does not, the next `-` word is a flag again."""
    lines, expect = [], []
    for ctx, f in sorted(code["flags"].items()):
        for flag in sorted(f.all):
            if flag in ("-h", "--help", "-v", "--version") and ctx == ():
                continue  # they end the line: nothing follows
            lines.append(f"{ctx_line(ctx)} {flag} -")
            expect.append(flag not in f.arg)
    got = bash_complete(lines, env=capsa_env)
    wrong = [f"{line}: {'flags expected' if e else 'a value expected'}, got {reply}"
             for line, e, reply in zip(lines, expect, got) if bool(reply) != e]
    assert not wrong, "\n".join(wrong)


def test_flag_values(capsa_env, workdir):
    d = Path(tempfile.mkdtemp(prefix="compl-files-", dir=workdir))
    try:
        (d / "bundle-a").mkdir()
        (d / "bundle-b").mkdir()
        (d / "pidfile").write_text("")
        lines = {
            f"capsa run --bundle {d}/bun": [f"{d}/bundle-a", f"{d}/bundle-b"],
            f"capsa create -b {d}/bundle-": [f"{d}/bundle-a", f"{d}/bundle-b"],
            f"capsa restore --bundle={d}/bundle-a": [f"{d}/bundle-a"],
            f"capsa --root {d}/bundle-b": [f"{d}/bundle-b"],
            f"capsa --root={d}/bundle-b": [f"{d}/bundle-b"],
            f"capsa spec --bundle {d}/pid": [],  # a file is no bundle
            f"capsa run --pid-file {d}/pid": [f"{d}/pidfile"],
            f"capsa exec --console-socket {d}/p": [f"{d}/pidfile"],
            f"capsa --log {d}/pid": [f"{d}/pidfile"],
            f"capsa exec -p {d}/pid": [f"{d}/pidfile"],
            f"capsa run -p {d}/pid": [],  # run's -p is --publish
            f"capsa run -v {d}/pid": [f"{d}/pidfile"],
            "capsa --log-format ": ["text", "json"],
            "capsa --log-format=j": ["json"],
            "capsa --rootless ": ["true", "false", "auto"],
            "capsa run --vm-accel ": ["kvm", "tcg", "auto"],
            "capsa create --vm-accel=t": ["tcg"],
            "capsa list --format ": ["table", "json"],
            "capsa ps -f t": ["table"],
            "capsa image list --format=": ["table", "json"],
            "capsa checkpoint --manage-cgroups-mode s": ["soft", "strict"],
            "capsa restore --empty-ns ": ["network"],
            "capsa exec --tty=": ["true", "false"],
            "capsa image pull --tls-verify=f": ["false"],
            "capsa kill some-id K": ["KILL"],
            "capsa kill some-id SIGU": ["SIGUSR1", "SIGUSR2", "SIGURG"],
            "capsa kill -a some-id RTMA": ["RTMAX"],
            "capsa image import oci-": ["oci-archive:"],
            f"capsa image import oci:{d}/bundle-a": [f"{d}/bundle-a"],
            "capsa exec some-id ls -": [],  # ls's own flags: not capsa's
            "capsa ps some-id -": [],
            "capsa run --image busybox id -- -": [],
            "capsa tenant remove -": [],
            "capsa no-such-command -": [],
        }
        got = bash_complete(list(lines), env=capsa_env, cwd=d)
        wrong = [f"{line!r}: {reply} != {want}" for (line, want), reply in zip(lines.items(), got)
                 if reply != want]
        assert not wrong, "\n".join(wrong)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_container_ids_of_the_root_on_the_line(runtime, bundle, capsa_env):
    """A real container, created under the test's own --root: its id is completed where a
    command takes one, from that root only."""
    r = runtime.create(bundle([CHECKER, "sleep", "60"]))
    assert r.rc == 0, r
    cid, root = r.id, runtime.root
    other = runtime.new_id()  # never created: must not appear
    lines = [f"capsa --root {root} start ",
             f"capsa --root={root} kill ",
             f"capsa --root {root} --debug state capsa-it-",
             f"capsa --root {root} exec ",
             f"capsa --root {root} delete --force ",
             f"capsa --root {root} ps -f json ",
             f"capsa --root {root} events --stats ",
             f"capsa --root {root} checkpoint --leave-running "]
    for reply in bash_complete(lines, env=capsa_env):
        assert reply == [cid], (lines, reply)
    none = [f"capsa --root {root} kill {cid} ",  # the signal, not an id
            f"capsa --root {root} exec {cid} ",  # the command in the container
            f"capsa --root {root} run ",  # a new id
            f"capsa --root {root} start {cid[:-2]}x",
            f"capsa --root {root}/nowhere start "]
    for line, reply in zip(none, bash_complete(none, env=capsa_env)):
        assert cid not in reply and other not in reply, (line, reply)
    # the ids come from `capsa list -q` of the binary as typed, too
    assert bash_complete([f"{CAPSA} --root {root} pause "]) == [[cid]]
    r = runtime("delete", "--force", cid)
    assert r.rc == 0, r
    assert bash_complete([f"capsa --root {root} start "], env=capsa_env) == [[]]


@pytest.fixture
def image_root(workdir):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import imagelib

    d = Path(tempfile.mkdtemp(prefix="compl-images-", dir=workdir))
    layout = d / "layout"
    imagelib.write_oci_layout(layout, [imagelib.busybox_entries()])
    r = subprocess.run([CAPSA, "--image-root", str(d / "store"), "image", "import", "--quiet",
                        f"oci:{layout}", "compl-test:1.0"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    yield d / "store"
    subprocess.run([CAPSA, "--image-root", str(d / "store"), "image", "rm", "--force",
                    "compl-test:1.0"], capture_output=True, timeout=60)
    shutil.rmtree(d, ignore_errors=True)


def test_image_names(image_root, capsa_env):
    names = subprocess.run([CAPSA, "--image-root", str(image_root), "image", "list"],
                           capture_output=True, text=True, timeout=30).stdout
    name = names.splitlines()[1].split()[0]
    assert name.endswith("compl-test:1.0"), names
    ir = f"--image-root {image_root}"
    got = bash_complete([f"capsa {ir} run --image ", f"capsa {ir} image rm ",
                         f"capsa {ir} image inspect --help ", f"capsa {ir} spec --image=",
                         f"capsa {ir} image tag ", f"capsa {ir} image tag {name} ",
                         f"capsa --image-root={image_root} create --image {name[:-2]}",
                         "capsa --image-root /nowhere image rm "], env=capsa_env)
    # bash replaces the text after the last `:` (a word break): the reply is what follows it
    assert got == [[name], [name], [name], [name], [name], [], ["1.0"], []], got


def test_network_names(netns, testdir, capsa_env):
    ns, root = netns(), testdir / "state"
    name = f"c{uuid.uuid4().hex[:8]}"

    def net(*args):
        return subprocess.run(["nsenter", f"--net={ns}", CAPSA, "--root", str(root), "net",
                               *args], capture_output=True, text=True, timeout=60)

    r = net("create", name, "--subnet", "10.213.7.0/24")
    assert r.returncode == 0, r.stderr
    try:
        got = bash_complete([f"capsa --root {root} net rm ", f"capsa --root {root} run --net ",
                             f"capsa --root {root} net inspect {name[:3]}",
                             f"capsa --root {root} create --net={name[:4]}",
                             f"capsa --root {root} net ls -"], env=capsa_env)
        assert got == [[name], sorted(["default", name]), [name], [name],
                       ["-f", "--format", "-h", "--help"]], got
    finally:
        r = net("rm", name)
    assert r.returncode == 0, r.stderr


# ---- zsh -------------------------------------------------------------------------------------


def need_zsh():
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed (tests/run installs it)")


def test_zsh_file_parses():
    need_zsh()
    p = subprocess.run(["zsh", "-n", str(ZSH_FILE)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr


ZSH_SPECS = r"""
_arguments() { : }
source "$1"
_arguments() { print -rl -- "$@"; print -r -- '""" + SEP + r"""' }
_capsa_subcommand() { shift; print -rl -- ${@%%:*}; print -r -- '""" + SEP + r"""' }
_describe() { print -rl -- ${${(P)${@[-1]}}%%:*}; print -r -- '""" + SEP + r"""' }
for f in ${@[2,-1]}; do $f; done
"""

SPEC_RE = re.compile(r"^(?:\([^)]*\))?\*?(--?[A-Za-z0-9][A-Za-z0-9-]*)(=-|=|\+)?"
                     r"(\[(?:\\.|[^]\\])*\])?(.*)$")


def zsh_specs(functions):
    p = subprocess.run(["zsh", "-f", "-c", ZSH_SPECS, "specs", str(ZSH_FILE), *functions],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    blocks = p.stdout.split(SEP + "\n")
    assert len(blocks) == len(functions) + 1, (functions, p.stdout)
    return [b.splitlines() for b in blocks[:-1]]


def test_zsh_flags_match_the_code(code):
    """Each command's _arguments specs (as zsh expands them) name exactly the flags the code
    accepts, and take a value where the code does."""
    need_zsh()
    ctxs = sorted(c for c in code["flags"] if c)
    ctxs = [c for c in ctxs if c not in [(s,) for s in code["subs"]]]
    funcs = ["_capsa_cmd_" + "_".join(c) for c in ctxs]
    problems = []
    for ctx, specs in zip(ctxs, zsh_specs(funcs)):
        f = Flags()
        for spec in specs:
            m = SPEC_RE.match(spec)
            if not m or spec.startswith(("-s", "-S", "-A", "-C")) and len(spec) <= 2:
                continue
            if spec == "-A" or spec == "-*":
                continue
            name, rest = m.group(1), m.group(4)
            f.all.add(name)
            if rest.startswith(":") and not rest.startswith("::"):
                f.arg.add(name)
        f.all -= {"-s", "-S", "-A", "-C"}
        want = code["flags"][ctx]
        if f.all != want.all or f.arg != want.arg:
            problems.append(f"{ctx_line(ctx)}: missing {sorted(want.all - f.all)}, not "
                            f"accepted {sorted(f.all - want.all)}, value expected wrongly "
                            f"{sorted(f.arg ^ want.arg)}")
    assert not problems, "\n".join(problems)


def test_zsh_commands_and_subcommands(code):
    need_zsh()
    funcs = ["_capsa_commands"] + [f"_capsa_cmd_{c}" for c in code["subs"]]
    got = zsh_specs(funcs)
    assert set(got[0]) == set(code["commands"]), got[0]
    for c, names in zip(code["subs"], got[1:]):
        assert set(names) == set(code["subs"][c]), (c, names)


ZSH_DRIVER = r"""
# complete each line in an interactive zsh (zsh/zpty) with compinit and completion/ first on
# fpath; every match compsys adds goes to $OUT, after a line naming the input line
zmodload zsh/zpty
out=$1 dir=$2
shift 2
zpty -b z zsh -f -i
# the dump file in the test's own directory: compinit given -d /dev/null replaced the host's
# /dev/null with a regular file
zpty -w z "PS1=''; fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D -d $out.zcompdump"
# compadd, but first the matches it would add (-O: into an array, not added) go to $out
zpty -w z "compadd() { local -a m; if (( ! \${@[(I)-[OAD]]} )); then \
  builtin compadd -O m \"\$@\"; print -rl -- \$m >> $out; fi; builtin compadd \"\$@\"; }"
zpty -w z "zstyle ':completion:*' menu no; bindkey '^I' complete-word; print -r -- ready >> $out"
wait_for() { for i in {1..100}; do grep -qxF -- $1 $out && return; sleep 0.1; done }
wait_for ready
for l in "$@"; do
  zpty -w z "print -r -- '== $l' >> $out"
  wait_for "== $l"
  zpty -w -n z "$l"$'\t'
  sleep 0.5
  zpty -w -n z $'\C-u'
  zpty -w z ""
done
zpty -w z "print -r -- '== end' >> $out"
for i in {1..50}; do grep -q '^== end' $out && break; sleep 0.2; done
zpty -d z
"""


def test_zsh_completes_for_real(runtime, bundle, capsa_env, workdir):
    """compinit loads _capsa from its directory and completes commands, a command's flags
    and a container id of the --root on the line."""
    need_zsh()
    r = runtime.create(bundle([CHECKER, "sleep", "60"]))
    assert r.rc == 0, r
    lines = ["capsa che", "capsa delete --f", f"capsa --root {runtime.root} state ",
             "capsa image p", "capsa --log-format ", "capsa run --vm-accel "]
    out = Path(tempfile.mkdtemp(prefix="compl-zsh-", dir=workdir)) / "out"
    out.write_text("")
    p = subprocess.run(["zsh", "-f", "-c", ZSH_DRIVER, "driver", str(out),
                        str(ZSH_FILE.parent), *lines], capture_output=True, text=True,
                       timeout=120, env=capsa_env)
    text = out.read_text()
    shutil.rmtree(out.parent, ignore_errors=True)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "the host's /dev/null is not a device"
    assert "== end" in text, (p.stdout, p.stderr, text)
    got = {}
    for block in text.split("== ")[1:]:
        head, *matches = block.splitlines()
        got[head] = {m for m in matches if m}
    assert got["capsa che"] == {"checkpoint"}, got
    assert got["capsa delete --f"] == {"--force"}, got
    assert got[f"capsa --root {runtime.root} state "] == {r.id}, got
    assert got["capsa image p"] == {"pull", "prune"}, got
    assert got["capsa --log-format "] == {"text", "json"}, got
    assert got["capsa run --vm-accel "] == {"kvm", "tcg", "auto"}, got
