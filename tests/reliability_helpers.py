"""Shared by the reliability, access, browser-residue and hostile-audit tests (their live app with
short file lifetimes: the `temp_dir` / `live` fixtures in conftest.py): plain-HTTP calls of `/ask`,
clear-message checks and the bytes left on disk."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CT = ROOT / "examples" / "ct.png"
INTERNAL = re.compile(r"Traceback|\b\w+(Error|Exception)\b|/tmp|site-packages|\.py\b|float NaN|pydantic|body")


def upload(url: str, data: bytes, name: str, http: httpx.Client | None = None) -> str:
    """POST /gradio_api/upload; ``http``: a client that keeps cookies (else none are sent)."""
    r = (http or httpx).post(f"{url}/gradio_api/upload", files={"files": (name, data)}, timeout=30)
    r.raise_for_status()
    return r.json()[0]


def file_arg(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def call(url: str, data: list | str, session: str | None = None, timeout: float = 60,
         http: httpx.Client | None = None, api: str = "ask") -> tuple[str, object]:
    """POST /gradio_api/call/ask (``data`` as a list, or raw JSON text for values JSON cannot
    express), then read its event stream: ("complete", outputs), ("error", message) or, refused
    before the queue, ("http", text)."""
    body = {"data": data} if isinstance(data, list) else None
    raw = json.dumps({**(body or {}), **({"session_hash": session} if session else {})}) if body is not None else data
    kind, payload, _ = post_and_follow(url, raw, timeout, http, api)
    return kind, payload


def post_and_follow(url: str, raw: str | bytes, timeout: float = 60, http: httpx.Client | None = None,
                    api: str = "ask") -> tuple[str, object, int]:
    """POST a raw body to /gradio_api/call/<api> and follow its event stream: (kind, payload, status)."""
    http = http or httpx
    r = http.post(f"{url}/gradio_api/call/{api}", content=raw, headers={"content-type": "application/json"},
                  timeout=timeout)
    if r.status_code != 200:
        return "http", r.text, r.status_code
    event = None
    with http.stream("GET", f"{url}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(line.split(":", 1)[1])
                return event, payload.get("error") if isinstance(payload, dict) else payload, 200
    return "none", None, 200


def ask_args(image: str, question: str = "What is this?", regions=(), masks=(), history=(), n=2, t=0.0) -> list:
    return [file_arg(image), question, list(regions), [file_arg(m) for m in masks], list(history), n, t]


def assert_clear(event: str, message: object, what: str) -> None:
    assert event == "error", f"{what}: expected a refusal, got {event} {message!r}"
    assert isinstance(message, str) and 10 < len(message) < 300, f"{what}: no clear message: {message!r}"
    assert not INTERNAL.search(message), f"{what}: internals in {message!r}"


def is_gallery_copy(path: Path, folder: Path) -> bool:
    """Whether ``path`` is Gradio's cached copy of an example (``<temp>/<sha256>/<name>``, made at startup)."""
    example = ROOT / "examples" / path.name
    return path.parent.parent == folder and example.is_file() and path.read_bytes() == example.read_bytes()


def left_bytes(folder: Path) -> int:
    """Bytes under the temp folder other than the example gallery's cached copies; an empty file counts
    as one byte. A folder deleted while this counts makes it count again."""
    for _ in range(50):
        try:
            return sum(p.stat().st_size or 1 for p in folder.rglob("*")
                       if p.is_file() and not is_gallery_copy(p, folder))
        except FileNotFoundError:
            continue
    raise AssertionError("the temp folder kept changing while its bytes were counted")


def wait_for(condition, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()




def concurrent_sessions(url: str, n_sessions: int, n_requests: int, gradio_clients: int = 0) -> tuple[list[str], int]:
    """``n_sessions`` users start at the same moment, each uploads the same bytes (CT) and asks
    ``n_requests`` times without pauses (with and without a region); the first ``gradio_clients`` use
    gradio_client and close together at the end, the others plain HTTP. Returns (errors, answers)."""
    import threading
    import uuid

    errors: list[str] = []
    answers: list[str] = []
    start, end = threading.Barrier(n_sessions), threading.Barrier(gradio_clients or 1)

    def questions():
        for j in range(n_requests):
            regions = [{"box": [10, 10, 60, 60]}] if j % 2 else []
            yield ("What is in <region1>?" if regions else "What is this?"), regions

    def http_user() -> None:
        key = uuid.uuid4().hex
        start.wait(timeout=120)
        path = upload(url, CT.read_bytes(), "ct.png")  # the same bytes as every other session's
        for q, regions in questions():
            event, out = call(url, ask_args(path, q, regions), session=key, timeout=300)
            if event == "complete":
                answers.append(out[0])
            else:
                errors.append(f"{event}: {out}")

    def client_user() -> None:
        from gradio_client import Client, handle_file

        client = Client(url + "/", verbose=False, httpx_kwargs={"timeout": 300})  # a loaded machine answers late
        try:
            start.wait(timeout=120)
            for q, regions in questions():
                answers.append(client.predict(handle_file(str(CT)), q, regions, [], [], 2, 0.0, api_name="/ask")[0])
        finally:
            end.wait(timeout=600)
            client.close()

    def user(run) -> None:
        try:
            run()
        except Exception as err:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=user, args=(client_user if i < gradio_clients else http_user,))
               for i in range(n_sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    return errors, len(answers)
