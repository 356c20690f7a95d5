"""Fast checks (no server) of what the audit found: the form of an `/ask` request (demo.api_requests),
client cookies (demo.clients), near-zero temperatures and unusable paths."""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")

from demo import api_requests, clients, files  # noqa: E402


@pytest.fixture(scope="module")
def ask_fn(tmp_path_factory):
    from demo import guard, ui
    from tests.app_helpers import load_test_model

    demo = ui.build_app(load_test_model(tmp_path_factory.mktemp("model")))
    guard.privatize(demo)
    return next(fn for fn in demo.fns.values() if fn.api_name == "ask")


def upload_path(name: str = "x.png") -> str:
    return str(files.temp_root() / "medplib-private" / "up" / ("0" * 32) / name)


def test_request_forms(ask_fn):
    good = [{"path": upload_path(), "meta": {"_type": "gradio.FileData"}, "size": "odd", "url": "http://x"},
            "q", [], [], [], 2, 0.0]
    body = {"data": list(good)}
    assert api_requests.problem(body, ask_fn, listed=True) is None
    assert body["data"][0] == {"path": upload_path(), "meta": {"_type": "gradio.FileData"}}  # only the plain form
    bad = {
        "data missing": {}, "data text": {"data": "x"}, "session a number": {"data": good, "session_hash": 1},
        "two values": {"data": good[:2]}, "image a number": {"data": [42, *good[1:]]},
        "image a URL": {"data": [{"path": "http://127.0.0.1:1/x.png"}, *good[1:]]},
        "image outside the temp folder": {"data": [{"path": "/etc/passwd"}, *good[1:]]},
        "masks not a list": {"data": [*good[:3], {"path": upload_path()}, *good[4:]]},
        "a file in the question": {"data": [good[0], {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                                            *good[2:]]},
    }
    for what, body in bad.items():
        message = api_requests.problem(body, ask_fn, listed=True)
        assert isinstance(message, str) and 10 < len(message) < 300 and "/etc" not in message, what
    assert "takes 7 values" in api_requests.problem(bad["two values"], ask_fn, listed=True)


def test_client_cookies_cannot_be_forged():
    page = clients.mint("page")
    value = clients.encode(page)
    assert clients.decode(value) == page
    kind, ident, sig = value.split(".")
    assert clients.decode(f"api.{ident}.{sig}") is None  # the kind is signed
    assert clients.decode(f"page.{'f' * 32}.{sig}") is None  # so is the id
    assert clients.from_headers([(b"cookie", f"a=b; {clients.COOKIE}={value}".encode())]) == page
    assert clients.from_headers([(b"cookie", b"medplib_client=page.x.y")]) is None


def test_near_zero_temperature_is_greedy_and_long_paths_are_not_found():
    from medplib.inputs import GenerationSettings
    from medplib.io import load_image
    from medplib.io.errors import ImageInputError

    assert GenerationSettings(2, 5e-324).generate_kwargs()["do_sample"] is False
    assert GenerationSettings(2, 0.5).generate_kwargs()["do_sample"] is True
    with pytest.raises(ImageInputError, match="could not be found") as err:
        load_image("A" * 100_000)
    assert len(str(err.value)) < 200
