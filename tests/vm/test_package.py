"""The Debian package as an operator installs it, inside the VM tier's guest (the host's / under
a tmpfs overlay, so installing and removing harms nothing): `apt-get install ./capsa_*.deb`
(as the README says) of the package tests/integration/test_vm_tier.py::test_vm_tier_package
built (tools/build-deb) and named in $CAPSA_DEB, then the installed capsa, its man pages and
completion, a container run with it, and `apt-get remove`.  The tests run in file order:
install first, remove last.  Every dependency is installed already (tests/run's PKGS), so apt
downloads nothing."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEB = os.environ.get("CAPSA_DEB", "")
REPO = Path(__file__).resolve().parents[2]
BIN = "/usr/bin/capsa"
BASH_COMPLETION = Path("/usr/share/bash-completion/completions/capsa")
ZSH_COMPLETION = Path("/usr/share/zsh/vendor-completions/_capsa")

pytestmark = pytest.mark.skipif(not DEB, reason="CAPSA_DEB names no package (the VM tier's "
                                "test_vm_tier_package builds one and sets it)")


def sh(*argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    if check:
        assert p.returncode == 0, (argv, p.returncode, p.stdout, p.stderr)
    return p


def package_files():
    return sh("dpkg", "-L", "capsa").stdout.split()


def test_install():
    assert not Path(BIN).exists(), "capsa is installed in the guest before the test"
    # man-db's trigger would rebuild its whole index (minutes under TCG); `man -w` needs none
    Path("/var/lib/man-db/auto-update").unlink(missing_ok=True)
    sh("apt-get", "install", "-y", DEB,
       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert "Status: install ok installed" in sh("dpkg", "-s", "capsa").stdout


def test_version():
    out = sh(BIN, "--version").stdout
    version = re.search(r"version : '([^']+)'", (REPO / "meson.build").read_text()).group(1)
    assert out.startswith(f"capsa version {version}\n"), out
    # the package's version is the project's (debian/changelog follows meson.build)
    assert sh("dpkg-query", "-W", "-f", "${Version}", "capsa").stdout == version


def test_man_pages():
    """Every page of man/ is installed, and man finds it by name."""
    pages = sorted(p.name for p in (REPO / "man").glob("*.[1-9]"))
    assert "capsa.8" in pages
    installed = [f for f in package_files() if f.startswith("/usr/share/man/")]
    for page in pages:
        name, section = page.rsplit(".", 1)
        want = f"/usr/share/man/man{section}/{page}.gz"
        assert want in installed, (page, installed)
        assert sh("man", "-w", section, name).stdout.strip() == want
    if (REPO / "man" / "capsa-exec.8").exists():
        assert sh("man", "-w", "capsa-exec").stdout.strip().endswith("capsa-exec.8.gz")


def test_completion():
    assert BASH_COMPLETION.is_file() and ZSH_COMPLETION.is_file()
    # bash-completion's loader finds it by the command's name, and it completes
    script = ("source /usr/share/bash-completion/bash_completion; __load_completion capsa; "
              "complete -p capsa; COMP_LINE='capsa che' COMP_POINT=9; "
              "COMP_WORDS=(capsa che); COMP_CWORD=1; _capsa; echo \"${COMPREPLY[*]}\"")
    out = sh("bash", "--norc", "-c", script).stdout.splitlines()
    assert out == ["complete -F _capsa capsa", "checkpoint"], out
    if shutil.which("zsh"):
        sh("zsh", "-n", str(ZSH_COMPLETION))


def test_run_with_the_installed_binary(runtime, bundle):
    b = bundle(["/bin/sh", "-c", "echo from the package; exit 7"])
    cid = runtime.new_id()
    p = sh(BIN, "--root", str(runtime.root), "run", "--bundle", str(b.path), cid, check=False,
           stdin=subprocess.DEVNULL, cwd=str(runtime.testdir))
    assert p.returncode == 7, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "from the package\n", p.stdout
    assert sh(BIN, "--root", str(runtime.root), "list", "-q").stdout == ""


def test_remove():
    files = [f for f in package_files() if Path(f).is_file()]
    assert BIN in files and str(BASH_COMPLETION) in files and str(ZSH_COMPLETION) in files
    sh("apt-get", "remove", "-y", "capsa", env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert sh("dpkg", "-s", "capsa", check=False).returncode != 0  # no conffiles left either
    left = [f for f in files if os.path.lexists(f)]
    assert not left, left
