"""The hostile audit (tests/hostile_corpus.py, over 700 cases made here) through the live app's `/ask`
and the Python API: every case gets an answer or one clear sentence, none a crash, a Gradio error without
a message, a server error or internals; the server log keeps no file name or input text; nothing is left
on disk afterwards."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow  # ~1.5 min of CPU: `-m "not slow"` skips it
pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

from tests import hostile_corpus as corpus  # noqa: E402
from tests.reliability_helpers import (CT, INTERNAL, ask_args, concurrent_sessions, left_bytes,  # noqa: E402
                                       post_and_follow, upload, wait_for)

SECRET_NAME = "Doe-John-1949-private"
SECRET_TEXT = "walrus-cobalt-question"
# a refusal before the queue (the guard's, Gradio's own) is plain text too: no parser or validator wording
HTTP_INTERNAL = re.compile(r"Traceback|\b\w+(Error|Exception)\b|/tmp|site-packages|\.py\b|pydantic|detail|"
                           r"error parsing|loc\b|Internal Server Error")


def ask_raw(url: str, body: str | bytes, timeout: float = 120) -> tuple[str, object]:
    """POST a raw body to /gradio_api/call/ask and follow its stream: (kind, payload), kind "http <status>"
    for a refusal before the queue."""
    kind, payload, status = post_and_follow(url, body, timeout)
    return (f"http {status}" if kind == "http" else kind), payload


def problem(kind: str, payload: object) -> str | None:
    """Why an outcome is not acceptable (None: an answer, or a clear refusal)."""
    if kind == "complete":
        return None if isinstance(payload, list) and isinstance(payload[0], str) else f"odd answer {payload!r:.200}"
    if kind == "error":
        if not isinstance(payload, str) or not 10 < len(payload) < 300 or INTERNAL.search(payload):
            return f"unclear message {payload!r:.300}"
        return None
    if kind.startswith("http 4") and isinstance(payload, str) and 10 < len(payload) < 300 \
            and not HTTP_INTERNAL.search(payload):
        return None
    return f"{kind}: {payload!r:.300}"


def run_cases(url: str, cases: dict[str, list], workers: int = 6) -> dict[str, str]:
    """``cases``: /ask data whose image is :data:`PLACEHOLDER`. Each worker is one session with its own
    upload of CT, in its place; returns {case: problem}."""
    names = list(cases)

    def worker(chunk: list[str]) -> dict[str, str]:
        key = uuid.uuid4().hex
        image = {"path": upload(url, CT.read_bytes(), f"{SECRET_NAME}.png"), "meta": {"_type": "gradio.FileData"}}
        found = {}
        for name in chunk:
            data = [image if v == PLACEHOLDER else v for v in cases[name][:1]] + cases[name][1:]
            why = problem(*ask_raw(url, json.dumps({"data": data, "session_hash": key})))
            if why:
                found[name] = why
        return found

    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(worker, [names[i::workers] for i in range(workers)])
        return {k: v for part in parts for k, v in part.items()}


PLACEHOLDER = "__image__"


def report(found: dict[str, str], total: int) -> str:
    return f"{len(found)} of {total} cases:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())


def test_hostile_arguments(live, temp_dir, capfd):
    cases = corpus.argument_cases([PLACEHOLDER, f"{SECRET_TEXT} <region1>?", [], [], [], 2, 0.0])
    assert len(cases) > 150
    found = run_cases(live, cases)
    assert not found, report(found, len(cases))
    out, err = capfd.readouterr()
    assert SECRET_NAME not in out + err and SECRET_TEXT not in out + err
    assert wait_for(lambda: left_bytes(temp_dir) == 0, timeout=60), left_bytes(temp_dir)


def test_hostile_request_bodies(live, capfd):
    found = {}
    bodies = corpus.raw_bodies(ask_args("placeholder", f"{SECRET_TEXT} <region1>?"))
    for name, body in bodies.items():  # each with an upload of its own (most bodies cannot name a session)
        image = upload(live, CT.read_bytes(), f"{SECRET_NAME}.png")
        raw = body.replace(b"placeholder", image.encode()) if isinstance(body, bytes) else body.replace(
            '"placeholder"', json.dumps(image))
        why = problem(*ask_raw(live, raw))
        if why:
            found[name] = why
    assert not found, report(found, len(bodies))
    out, err = capfd.readouterr()
    assert SECRET_NAME not in out + err and SECRET_TEXT not in out + err


def test_hostile_files(live, capfd):
    files = {**corpus.hostile_files(), **corpus.more_files()}
    found = {}
    for what, (name, data) in files.items():
        path = upload(live, data, f"{SECRET_NAME}-{name}")
        why = problem(*ask_raw(live, json.dumps({"data": ask_args(path, f"{SECRET_TEXT}: what is this?")})))
        if why:
            found[what] = why
    assert not found, report(found, len(files))
    out, err = capfd.readouterr()
    assert SECRET_NAME not in out + err and SECRET_TEXT not in out + err


def test_hostile_python_api(tmp_path_factory):
    """The same odd values for every argument of `MedPLIB.ask` (and odd images): an Answer or a
    MedPLIBError with a clear message, never another exception."""
    from medplib.errors import MedPLIBError
    from tests.app_helpers import load_test_model

    medplib = load_test_model(tmp_path_factory.mktemp("model"))
    encoded = medplib.encode(str(CT))
    found = {}
    cases = corpus.python_cases()
    for name, case in cases.items():
        kwargs = {"image": encoded, "question": "What is this?", "max_new_tokens": 2, "max_time": 5.0, **case}
        try:
            answer = medplib.ask(kwargs.pop("image"), kwargs.pop("question"), **kwargs)
            if not isinstance(answer.text, str):
                found[name] = f"odd answer {answer!r:.200}"
        except MedPLIBError as err:
            message = str(err)
            if not 10 < len(message) < 300 or INTERNAL.search(message):
                found[name] = f"unclear message {message!r:.300}"
        except Exception as err:  # noqa: BLE001 - the audit collects every other failure
            found[name] = f"{type(err).__name__}: {str(err)[:200]}"
    assert len(cases) > 150
    assert not found, report(found, len(cases))


def test_twenty_sessions_ten_requests_each(live, temp_dir):
    """20 x 10 without pauses, half of them gradio_client sessions; sharing the file's bytes, starting and
    ending together: every request answered, then 0 bytes left."""
    errors, answers = concurrent_sessions(live, n_sessions=20, n_requests=10, gradio_clients=10)
    assert not errors and answers == 200, errors[:5]
    assert wait_for(lambda: left_bytes(temp_dir) == 0, timeout=60), left_bytes(temp_dir)
