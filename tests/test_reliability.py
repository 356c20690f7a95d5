"""Reliability and privacy of the live app on 127.0.0.1: a hostile corpus (files and arguments made
here) through `/ask`, file ownership between sessions, sessions sharing a file at the same time,
and the bytes left on disk after sessions and after a shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

from demo import files  # noqa: E402
from tests.app_helpers import free_port  # noqa: E402
from tests.hostile_corpus import hostile_files  # noqa: E402
from tests.reliability_helpers import (CT, ROOT, ask_args, assert_clear, call, concurrent_sessions,  # noqa: E402
                                       file_arg, left_bytes, upload, wait_for)

SECRET_NAME = "Jane-Doe-1957-secret"  # an upload name that must never reach the log
SECRET_TEXT = "zebra-quartz-question"  # question text that must never reach the log


# ------------------------------------------------------------------------------------------------
# Hostile corpus
# ------------------------------------------------------------------------------------------------


def test_hostile_files_get_clear_messages(live, capfd):
    odd_but_valid = {"one pixel tall", "png named dcm", "jpeg named nii"}  # may be read by content sniffing
    for what, (name, data) in hostile_files().items():
        path = upload(live, data, f"{SECRET_NAME}-{name}")
        event, message = call(live, ask_args(path, f"{SECRET_TEXT}: what is this?"))
        if what in odd_but_valid and event == "complete":
            assert isinstance(message[0], str)
            continue
        assert_clear(event, message, what)
    out, err = capfd.readouterr()
    assert SECRET_NAME not in out + err and SECRET_TEXT not in out + err


def test_hostile_arguments_get_clear_messages(live, capfd):
    ct = upload(live, CT.read_bytes(), f"{SECRET_NAME}.png")
    base = ask_args(ct, f"{SECRET_TEXT} <region1>?")

    def with_(index: int, value) -> list:
        data = list(base)
        data[index] = value
        return data

    cases = {
        "regions not json": with_(2, "{not json"),
        "regions a number": with_(2, 42),
        "regions true": with_(2, True),
        "point of strings": with_(2, [{"point": ["a", "b"]}]),
        "nested point": with_(2, [{"point": [[1, 2], 3]}]),
        "point and box": with_(2, [{"point": [1, 2], "box": [1, 2, 3, 4]}]),
        "box outside": with_(2, [{"box": [0, 0, 5000, 5000]}]),
        "box reversed": with_(2, [{"box": [50, 50, 10, 10]}]),
        "nine regions": with_(2, [{"box": [1, 1, 9, 9]}] * 9),
        "history not json": with_(4, "[[unclosed"),
        "history wrong shape": with_(4, [["only a question"]]),
        "history of numbers": with_(4, [[1, 2]]),
        "max_new_tokens text": with_(5, "abc"),
        "max_new_tokens negative": with_(5, -5),
        "max_new_tokens huge": with_(5, 10 ** 9),
        "max_new_tokens fraction": with_(5, 2.5),
        "temperature text": with_(6, "hot"),
        "temperature negative": with_(6, -1),
        "question a number": with_(1, 12345),
        "question empty": with_(1, "   "),
        "question only <image>": with_(1, "<image>"),
        "question far too long": with_(1, "why " * 30000),
        "region mask not an image": with_(3, [file_arg(upload(live, b"nope", "m.png"))]),
        "image missing": with_(0, None),
    }
    for what, data in cases.items():
        assert_clear(*call(live, data), what)
    # values JSON cannot carry: sent as raw JSON text
    raw = json.dumps({"data": base})
    for what, text in {"point 1e400": raw.replace('"<region1>?", []', '"<region1>?", [{"point": [1e400, 2]}]'),
                       "point Infinity": raw.replace('"<region1>?", []', '"<region1>?", [{"point": [Infinity, 2]}]'),
                       "point NaN": raw.replace('"<region1>?", []', '"<region1>?", [{"point": [NaN, 2]}]'),
                       "lone surrogate": raw.replace(SECRET_TEXT, "\\ud800 what"),
                       "not json at all": "{data: nope"}.items():
        event, message = call(live, text)
        if event == "http":  # refused before the queue: the body itself is unreadable
            assert "error parsing the body" not in message.lower()
            continue
        assert_clear(event, message, what)
    out, err = capfd.readouterr()
    assert SECRET_NAME not in out + err and SECRET_TEXT not in out + err


def test_long_conversation_is_trimmed_not_broken(live):
    ct = upload(live, CT.read_bytes(), "ct.png")
    history = [["What organ is shown in this image, in detail?", "The liver, with a lesion. " * 5]] * 20
    event, out = call(live, ask_args(ct, "And now?", history=history))
    assert event == "complete" and isinstance(out[0], str)


# ------------------------------------------------------------------------------------------------
# Ownership
# ------------------------------------------------------------------------------------------------


def test_files_are_bound_to_their_session(live, temp_dir):
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    path = upload(live, CT.read_bytes(), "mine.png")
    assert Path(path).is_relative_to(files.uploads_root())
    assert call(live, ask_args(path), session=a)[0] == "complete"
    event, message = call(live, ask_args(path), session=b)  # another session's upload
    assert_clear(event, message, "another session's upload")
    assert "not uploaded in this session" in message
    shared = next(p for p in temp_dir.glob("*/ct.png"))  # the gallery's cached copy (listed in /config)
    event, message = call(live, ask_args(str(shared)), session=b)
    assert_clear(event, message, "gallery cache path")
    assert shared.is_file()
    files.end_session(a)
    assert not Path(path).exists()
    assert httpx.get(f"{live}/gradio_api/file={path}").status_code == 403
    assert httpx.get(f"{live}/gradio_api/file={shared}").status_code == 200  # the gallery stays
    assert httpx.get(f"{live}/gradio_api/openapi.json").status_code == 404
    assert str(temp_dir) not in httpx.get(f"{live}/config").text


# ------------------------------------------------------------------------------------------------
# Sessions sharing a file, at the same time; residue
# ------------------------------------------------------------------------------------------------


def test_concurrent_sessions_share_a_file_and_leave_nothing(live, temp_dir):
    """20 sessions upload the same file and ask at the same moment (no pauses), then all leave; the
    audit (tests/test_hostile_audit.py) runs 20 x 10 with gradio_client sessions among them."""
    errors, answers = concurrent_sessions(live, n_sessions=20, n_requests=3)
    assert not errors and answers == 20 * 3
    assert any(temp_dir.glob("*/ct.png"))  # the gallery's copy of the same file is untouched
    assert wait_for(lambda: left_bytes(temp_dir) == 0, timeout=60), left_bytes(temp_dir)


def test_gradio_client_session_leaves_nothing(live, temp_dir):
    from gradio_client import Client, handle_file

    client = Client(live + "/", verbose=False)
    answer = client.predict(handle_file(str(CT)), "Please segment the liver.", [{"point": [60, 60]}], [], [], 2, 0.0,
                            api_name="/ask")
    assert isinstance(answer[0], str) and left_bytes(temp_dir) > 0
    client.close()
    assert wait_for(lambda: left_bytes(temp_dir) == 0, timeout=60), left_bytes(temp_dir)


def test_unused_uploads_and_plain_http_sessions_are_deleted(live, temp_dir):
    upload(live, CT.read_bytes(), "never-used.png")
    used = upload(live, CT.read_bytes(), "used.png")
    assert call(live, ask_args(used), session=uuid.uuid4().hex)[0] == "complete"
    assert left_bytes(temp_dir) > 0
    assert wait_for(lambda: left_bytes(temp_dir) == 0, timeout=30), left_bytes(temp_dir)


def test_shutdown_deletes_every_session_file(tmp_path):
    """SIGTERM and SIGINT, each to an app with an open session (an upload it used, files made for it)
    and an unused upload; both apps start together, so the test waits for one start-up."""
    apps = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            temp, port = tmp_path / sig.name, free_port()
            env = {**os.environ, "GRADIO_TEMP_DIR": str(temp), "HF_HUB_OFFLINE": "1"}
            apps[sig] = (subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                         f"http://127.0.0.1:{port}", temp)
        for sig, (proc, url, temp) in apps.items():
            assert wait_for(lambda: _up(url), timeout=400), f"the app for {sig.name} did not start"
            path = upload(url, CT.read_bytes(), "open-session.png")
            event, out = call(url, ask_args(path, "Please segment the liver."), session=uuid.uuid4().hex)
            assert event == "complete", out
            upload(url, CT.read_bytes(), "unused.png")
            assert left_bytes(temp) > 0
        for sig, (proc, _, _) in apps.items():
            proc.send_signal(sig)
        for proc, _, _ in apps.values():
            proc.wait(timeout=60)
    finally:
        for proc, _, _ in apps.values():
            if proc.poll() is None:
                proc.kill()
    assert {sig.name: left_bytes(temp) for sig, (_, _, temp) in apps.items()} == {"SIGTERM": 0, "SIGINT": 0}


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/config", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
