#!/usr/bin/python3
"""The man pages cover every command and every flag the code accepts.

    man-coverage.py CAPSA SRCDIR MANDIR [PAGE...]
    man-coverage.py --self-test CAPSA SRCDIR MANDIR

The commands come from `capsa --help` and from the table in src/main.c (a command missing from
the help is caught too); the subcommands of a command from the usage lines of `capsa CMD --help`
and the words its source compares argv[1] with (aliases included).

The flags of a command (or subcommand) are the candidates -- every flag its `--help` names, and
every long option and short letter of the getopt tables and optstrings in the source file that
defines cmd_CMD and in src/cmd/common.c (the shared parsers), so a flag missing from the help is
caught too -- that the binary accepts.  A candidate is probed as
`capsa --root TMP CMD [SUB] FLAG[=x] --help`: the code accepts it when that prints the help or
fails on the flag's value (an error naming the flag), and refuses it when the error is an
unknown option or anything else.  The global options are probed the same way (`capsa FLAG
--help`).  No probe does anything: --help ends each one before any action.

Then each command needs man/capsa-CMD.8 whose .TP tags name every accepted flag (long and short
forms) and every subcommand, with the usual sections; capsa.8's GLOBAL OPTIONS tags name every
global option, its COMMANDS every command, its SEE ALSO every command page; a page for a command
that does not exist is an error, and so is a page (section 8, or an overview in section 7) not
given in PAGE... (man/meson.build passes the pages it installs).  The help texts are held to
the same: a flag --help names that the code refuses, and a flag the code accepts that its
--help does not name (--help and -h aside), are reported too.

--self-test proves the check can fail: it copies the pages to a temporary directory, removes one
flag's tag, adds a page for a command that does not exist, leaves one page uninstalled, removes
a page and a global option, puts capsa behind a wrapper whose `list --help` leaves out -q and
names a flag the code refuses, and expects each to be named.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAG_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w])")
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS|COMMANDS", "EXIT STATUS", "SEE ALSO"]


_runs = {}  # (capsa, args) -> result: the self-test checks three sets of pages with one binary


def run(capsa, args, cwd):
    key = (capsa, tuple(args))
    if key not in _runs:
        p = subprocess.run([capsa, "--root", cwd] + args, cwd=cwd, capture_output=True,
                           text=True, timeout=60)
        _runs[key] = (p.returncode, p.stdout, p.stderr)
    return _runs[key]


# ---- what the code says ----------------------------------------------------------------------

def help_flags(text, cmd=None):
    """The flags a help text names, but those of another command it quotes (`capsa run --net
    NAME` in net's)."""
    if cmd:
        text = re.sub(r"`capsa ([a-z-]+)[^`]*`", lambda m: m.group(0) if m.group(1) == cmd
                      else "", text)
    return {m.group(1) for m in FLAG_RE.finditer(text)}


def main_commands(capsa, srcdir, tmp):
    rc, out, _ = run(capsa, ["--help"], tmp)
    listed, in_commands, globals_ = [], False, ""
    for line in out.splitlines():
        if line.startswith("Commands:"):
            in_commands = True
        elif in_commands and line.strip():
            listed.append(line.split()[0])
        elif not in_commands:
            globals_ += line + "\n"
    table = re.findall(r'^\s*\{"([a-z-]+)", cmd_\w+,', (srcdir / "main.c").read_text(), re.M)
    return [c for c in listed if c != "help"], table, globals_


def c_tables(text):
    """Long options (name -> (takes an argument, its val letter or None)) and short letters
    (letter -> takes an argument) of every getopt table and optstring in a C file."""
    longs, shorts = {}, {}
    for name, kind, val in re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(no_argument|'
                                      r'required_argument|optional_argument),\s*NULL,\s*'
                                      r"(?:'(.)'|\w+)", text):
        longs[name] = (kind == "required_argument", val or None)
    for s in re.findall(r'getopt_long\([^;]*?"([+:a-zA-Z]+)"', text, re.S) + \
            re.findall(r'"([+:]+[a-zA-Z][a-zA-Z:]*)"', text):
        s = s.lstrip("+:")
        for i, ch in enumerate(s):
            if ch.isalpha():
                shorts[ch] = s[i + 1:i + 2] == ":"
    return longs, shorts


def source_of(srcdir, cmd):
    for f in sorted((srcdir / "cmd").glob("*.c")):
        if re.search(r"^int cmd_%s\(" % re.escape(cmd.replace("-", "_")), f.read_text(), re.M):
            return f
    return None


def subcommands(capsa, cmd, src_text, tmp):
    rc, out, err = run(capsa, [cmd, "--help"], tmp)
    subs = set(re.findall(r"capsa %s ([a-z][a-z-]*)" % re.escape(cmd), out))
    # aliases: the words the command compares argv[1] with, and a {"name", "alias", fn} table
    subs |= set(re.findall(r'strcmp\(argv\[1\], "([a-z][a-z-]*)"\)', src_text))
    for a, b in re.findall(r'\{"([a-z]+)", (?:"([a-z]+)"|NULL), \w+_cmd\}', src_text):
        subs |= {a} | ({b} if b else set())
    return sorted(subs), out


def accepts(capsa, words, flag, takes_arg, longnames, tmp):
    """Whether `capsa WORDS FLAG[=x] --help` shows that the code takes FLAG: it prints the help,
    or fails on the value (an error naming FLAG, or for a short letter its long name, followed
    by `:` or a quoted value)."""
    probe = [flag + "=x"] if takes_arg and flag.startswith("--") else \
        [flag, "x"] if takes_arg else [flag]
    rc, out, err = run(capsa, words + probe + ["--help"], tmp)
    if rc == 0:
        return True
    if re.search(r"unknown option|needs an argument|unknown subcommand", err):
        return False
    names = [flag] + ["--" + n for n in longnames]
    return any(re.search(r"(?<![\w-])%s(:| `)" % re.escape(n), err) for n in names)


def accepted_flags(capsa, words, help_text, longs, shorts, tmp, pool):
    """The candidates the code accepts for the command WORDS; the flags its --help names that
    the code refuses; and the flags the code accepts that its --help does not name."""
    cands = {}
    for f in help_flags(help_text, words[0] if words else None):
        cands[f] = longs.get(f[2:], (False,))[0] if f.startswith("--") else \
            shorts.get(f[1:], False)
    for name, (arg, _) in longs.items():
        cands["--" + name] = arg
    for ch, arg in shorts.items():
        cands["-" + ch] = arg
    cands.setdefault("--help", False)
    cands.setdefault("-h", False)
    long_of = {}  # a short letter's long names (the table entries whose val it is)
    for name, (_, val) in longs.items():
        if val:
            long_of.setdefault(val, []).append(name)
    futs = {f: pool.submit(accepts, capsa, words, f, a,
                           long_of.get(f[1:], []) if not f.startswith("--") else [], tmp)
            for f, a in cands.items()}
    ok = {f for f, fut in futs.items() if fut.result()}
    named_ = help_flags(help_text, words[0] if words else None)
    lying = sorted(f for f in named_ if f not in ok)
    unnamed = sorted(f for f in ok - named_ if f not in ("--help", "-h"))
    return ok, lying, unnamed


# ---- what the pages say ----------------------------------------------------------------------

def plain(roff):
    s = re.sub(r"\\f(\[[A-Z]*\]|\(..|.)", "", roff)
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\~", " ").replace('"', "")
    s = re.sub(r"\\\(..", "", s)
    return re.sub(r"^\.[A-Z]+\s*", "", s)


def page_tags(text, section=None):
    """The plain text of every .TP tag (the line after .TP), in SECTION only if given; and the
    sections' names."""
    tags, sections, cur, lines = [], [], None, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            cur = plain(line[3:]).strip()
            sections.append(cur)
        elif line.startswith(".TP") and i + 1 < len(lines) and (section is None or cur == section):
            tags.append(plain(lines[i + 1]))
    return tags, sections


def named(tags, word):
    pat = re.compile(r"(?<![\w-])%s(?![\w-])" % re.escape(word))
    return any(pat.search(t) for t in tags)


def check(capsa, srcdir, mandir, installed, only=None):
    """The problems found; ONLY: probe these commands only (the self-test's wrapper)."""
    srcdir, mandir = Path(srcdir), Path(mandir)
    problems = []
    with tempfile.TemporaryDirectory(prefix="capsa-man-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        cmds, table, global_help = main_commands(capsa, srcdir, tmp)
        for c in table:
            if c not in cmds:
                problems.append(f"command `{c}` is in src/main.c's table but not in capsa --help")
        common = c_tables((srcdir / "cmd" / "common.c").read_text())
        # global options
        glongs, gshorts = c_tables((srcdir / "main.c").read_text())
        gok, glying, gunnamed = accepted_flags(capsa, [], global_help, glongs, gshorts, tmp,
                                               pool)
        problems += [f"capsa --help names {f}, which the code refuses" for f in glying]
        problems += [f"capsa accepts {f}, which capsa --help does not name" for f in gunnamed]
        top = mandir / "capsa.8"
        top_text = top.read_text() if top.exists() else ""
        gtags, _ = page_tags(top_text, "GLOBAL OPTIONS")
        for f in sorted(gok):
            if not named(gtags, f):
                problems.append(f"capsa.8: global option {f} is not documented (GLOBAL OPTIONS)")
        ctags, _ = page_tags(top_text, "COMMANDS")
        see_also = plain(top_text.split(".SH SEE ALSO", 1)[-1]) if top_text else ""
        for c in cmds:
            if not any(t.split()[:1] == [c] for t in ctags):
                problems.append(f"capsa.8: command `{c}` is not in COMMANDS")
            if not re.search(r"capsa-%s\s*\(8\)" % re.escape(c), see_also):
                problems.append(f"capsa.8: capsa-{c}(8) is not in SEE ALSO")
        # each command
        for c in [c for c in cmds if only is None or c in only]:
            src = source_of(srcdir, c)
            text = src.read_text() if src else ""
            longs, shorts = c_tables(text)
            longs, shorts = {**common[0], **longs}, {**common[1], **shorts}
            subs, help_text = subcommands(capsa, c, text, tmp)
            page = mandir / f"capsa-{c}.8"
            if not page.exists():
                problems.append(f"command `{c}` has no man page ({page.name})")
                continue
            ptext = page.read_text()
            tags, sections = page_tags(ptext)
            for s in SECTIONS:
                if not set(s.split("|")) & set(sections):
                    problems.append(f"{page.name}: no {s} section")
            if not re.search(r"^\.TH CAPSA\\-%s 8 " % re.escape(c.upper().replace("-", "\\-")),
                             ptext, re.M):
                problems.append(f"{page.name}: .TH is not CAPSA\\-{c.upper()} 8")
            if "capsa(8)" not in re.sub(r"\s+", "", plain(ptext.split(".SH SEE ALSO", 1)[-1])):
                problems.append(f"{page.name}: SEE ALSO does not name capsa(8)")
            took, helped = set(gok), {}  # all the flags of the command and its subcommands
            for words in [[c]] + [[c, s] for s in subs]:
                if len(words) == 2:
                    rc, sub_help, _ = run(capsa, words + ["--help"], tmp)
                    if not any(t.split()[:1] == [words[1]] for t in tags):
                        problems.append(f"{page.name}: subcommand `{' '.join(words)}` is not "
                                        "documented (no .TP tag names it)")
                else:
                    sub_help = help_text
                ok, lying, unnamed = accepted_flags(capsa, words, sub_help, longs, shorts, tmp,
                                                    pool)
                problems += [f"capsa {' '.join(words)} accepts {f}, which its --help does not "
                             "name" for f in unnamed]
                took |= ok
                helped.update({f: words for f in lying})
                for f in sorted(ok):
                    if not named(tags, f):
                        problems.append(f"{page.name}: `capsa {' '.join(words)}` accepts {f}, "
                                        "which the page does not document (no .TP tag names it)")
            # a command's help may name its subcommands' flags, and global ones
            problems += [f"capsa {' '.join(w)} --help names {f}, which the code refuses"
                         for f, w in sorted(helped.items()) if f not in took]
    # pages without a command, pages not installed (the section 7 overviews too)
    for p in sorted(mandir.glob("*.8")) + sorted(mandir.glob("*.7")):
        m = re.fullmatch(r"capsa-(.+)\.8", p.name)
        if m and m.group(1) not in cmds:
            problems.append(f"{p.name}: a page for a command that does not exist")
        if installed is not None and p.name not in installed:
            problems.append(f"{p.name}: not installed (not in man/meson.build's man_pages)")
    return problems


def self_test(capsa, srcdir, mandir):
    failures = []
    with tempfile.TemporaryDirectory(prefix="capsa-man-self-") as d:
        d = Path(d)
        for p in Path(mandir).glob("*.8"):
            shutil.copy(p, d)
        installed = {p.name for p in d.glob("*.8")}
        base = check(capsa, srcdir, d, installed)
        if base:
            failures.append("the unchanged pages do not pass:\n  " + "\n  ".join(base))
        # a flag's tag removed: delete's --force
        page = d / "capsa-delete.8"
        page.write_text(re.sub(r"\.TP\n[^\n]*\\-\\-force[^\n]*\n", ".TP\n.B \\-\\-gone\n",
                               page.read_text()))
        # a page for no command, and a page left out of the installed list
        (d / "capsa-bogus.8").write_text((d / "capsa-start.8").read_text())
        got = check(capsa, srcdir, d, installed - {"capsa-pause.8"})
        for want in ["capsa-delete.8: `capsa delete` accepts --force",
                     "capsa-bogus.8: a page for a command that does not exist",
                     "capsa-pause.8: not installed"]:
            if not any(g.startswith(want) for g in got):
                failures.append(f"not caught: {want}\n  got: " + "\n  ".join(got))
        # a page missing altogether, and a global option removed from capsa.8
        (d / "capsa-kill.8").unlink()
        top = d / "capsa.8"
        top.write_text(re.sub(r"\.TP\n[^\n]*\\-\\-criu[^\n]*\n", "", top.read_text()))
        got = check(capsa, srcdir, d, None)
        for want in ["command `kill` has no man page",
                     "capsa.8: global option --criu is not documented"]:
            if not any(g.startswith(want) for g in got):
                failures.append(f"not caught: {want}\n  got: " + "\n  ".join(got))
        # a help text that leaves out a flag the code takes and names one it refuses: capsa
        # behind a wrapper that edits `capsa list --help`
        wrapper = d / "capsa-wrapper"
        wrapper.write_text(f"""#!{sys.executable}
import subprocess, sys
r = subprocess.run([{str(capsa)!r}] + sys.argv[1:], capture_output=True, text=True)
out = r.stdout
if sys.argv[-2:] == ["list", "--help"]:
    out = out.replace("[-q|--quiet] ", "") + "  --bogus   a flag the code refuses\\n"
sys.stdout.write(out)
sys.stderr.write(r.stderr)
sys.exit(r.returncode)
""")
        wrapper.chmod(0o755)
        for p in Path(mandir).glob("*.8"):
            shutil.copy(p, d)
        got = check(str(wrapper), srcdir, d, installed | {"capsa-bogus.8"}, only={"list"})
        for want in ["capsa list accepts -q, which its --help does not name",
                     "capsa list accepts --quiet, which its --help does not name",
                     "capsa list --help names --bogus, which the code refuses"]:
            if not any(g.startswith(want) for g in got):
                failures.append(f"not caught: {want}\n  got: " + "\n  ".join(got))
    return failures


def main(argv):
    if argv[1:2] == ["--self-test"]:
        failures = self_test(os.path.abspath(argv[2]), argv[3], argv[4])
        print("1..1")
        if failures:
            print("not ok 1 - the man check catches what it must\n# " +
                  "\n# ".join("\n".join(failures).splitlines()))
            return 1
        print("ok 1 - the man check catches a removed flag, a bogus, a missing and an "
              "uninstalled page, a removed global option, a help text that omits or invents "
              "a flag")
        return 0
    capsa, srcdir, mandir = os.path.abspath(argv[1]), argv[2], argv[3]
    installed = {os.path.basename(p) for p in argv[4:]} if len(argv) > 4 else None
    problems = check(capsa, srcdir, mandir, installed)
    print("1..1")
    if problems:
        print("not ok 1 - man pages cover every command and flag\n# " + "\n# ".join(problems))
        return 1
    print("ok 1 - man pages cover every command and flag")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
