"""--log FILE --log-format json|text: errors land in the log as runc writes them, so that
conmon and containerd can show them to their users."""

import json

from conftest import IS_CAPSA


def test_json_log_has_level_msg_time(runtime, testdir):
    log = testdir / "log.json"
    r = runtime("--log", log, "--log-format", "json", "state", "no-such-container", root=False)
    assert r.rc != 0, r
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    errors = [e for e in lines if e.get("level") == "error"]
    assert errors, lines
    e = errors[-1]
    assert "does not exist" in e["msg"], e
    if IS_CAPSA:
        assert "no-such-container" in e["msg"], e
    assert e["time"].endswith("Z") and "T" in e["time"], e


def test_json_log_records_create_failure(runtime, bundle, testdir):
    b = bundle()
    b.process["args"] = ["/no/such/binary"]
    b.save()
    log = testdir / "log.json"
    cid = runtime.new_id()
    r = runtime("--root", runtime.root, "--log", log, "--log-format", "json", "run",
                "--bundle", b.path, cid, root=False)
    assert r.rc != 0, r
    msgs = [json.loads(line)["msg"] for line in log.read_text().splitlines() if line.strip()]
    assert any("/no/such/binary" in m for m in msgs), msgs


def test_text_log(runtime, testdir):
    log = testdir / "log.txt"
    r = runtime("--log", log, "--log-format", "text", "state", "no-such-container", root=False)
    assert r.rc != 0, r
    text = log.read_text()
    assert "level=error" in text and "does not exist" in text, text
    assert 'time="' in text
    if IS_CAPSA:
        assert "no-such-container" in r.err  # also on stderr
