"""Who may call what and fetch which file on the live app: files and sessions are bound to the client
(its cookie, demo.clients) that made them, and the UI's private events are open to the app's page only.
The browser side of the same rules is in tests/test_browser_residue.py."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

from demo import guard  # noqa: E402
from demo.clients import COOKIE  # noqa: E402
from tests.reliability_helpers import CT, ask_args, assert_clear, call, upload  # noqa: E402


@pytest.fixture(scope="module")
def app(grounded_app):
    return grounded_app[:2]


def api_client(url: str) -> httpx.Client:
    """A program that keeps cookies, as gradio_client does (its cookie comes with /config)."""
    http = httpx.Client(timeout=60)
    assert COOKIE in http.get(f"{url}/config").cookies
    return http


def page_client(url: str) -> httpx.Client:
    http = httpx.Client(timeout=60)
    assert COOKIE in http.get(f"{url}/").cookies
    return http


def private_events(demo) -> dict[int, str]:
    return {i: fn.api_name for i, fn in demo.fns.items() if fn.api_name not in guard.PUBLIC_EVENTS}


def test_every_event_but_ask_is_private(app):
    url, demo = app
    events = private_events(demo)
    assert len(events) >= 10 and all(demo.fns[i].api_visibility == "private" for i in events)
    info = httpx.get(f"{url}/gradio_api/info").json()
    assert list(info["named_endpoints"]) == ["/ask"] and not info["unnamed_endpoints"]


def test_private_events_are_refused_outside_the_page(app):
    url, demo = app
    for http in (httpx, api_client(url)):  # no cookie; the cookie of a program
        for index, name in private_events(demo).items():
            event, message = call(url, [None, None], http=http, api=name)
            assert event == "http" and message == guard.PAGE_ONLY, (name, event, message)
            r = http.post(f"{url}/gradio_api/queue/join", json={"data": [None], "fn_index": index,
                                                                "session_hash": uuid.uuid4().hex})
            assert r.status_code == 403 and r.text == guard.PAGE_ONLY, (index, r.status_code, r.text)
        for odd in ("3", 3.0, None, "x", True, 10 ** 30):  # what pydantic might coerce: refused unless public
            r = http.post(f"{url}/gradio_api/queue/join", json={"data": [], "fn_index": odd, "session_hash": "s1"})
            assert r.status_code == 403, odd
        image = upload(url, CT.read_bytes(), "ct.png", http=http)
        assert call(url, ask_args(image), http=http)[0] == "complete"  # the public /ask stays open


def test_gradio_client_cannot_call_a_private_event(app):
    from gradio_client import Client, handle_file

    url, demo = app
    client = Client(url + "/", verbose=False)
    index = next(iter(private_events(demo)))
    with pytest.raises(Exception) as err:  # noqa: PT011 - gradio_client wraps the refusal its own way
        client.predict(None, None, fn_index=index)
    assert "ask" not in str(type(err.value).__name__)
    answer, masks, overlay, _ = client.predict(handle_file(str(CT)), "Please segment the liver.", [], [], [], 8, 0.0,
                                               api_name="/ask")
    assert masks and overlay  # its own output files came back to it (its cookie)
    client.close()


def test_the_page_may_call_a_private_event_of_its_own_session(app):
    url, demo = app
    page = page_client(url)
    index = next(i for i, name in private_events(demo).items() if name == "on_clear_chat")
    key = uuid.uuid4().hex
    r = page.post(f"{url}/gradio_api/queue/join", json={"data": [None], "fn_index": index, "session_hash": key,
                                                        "event_data": None, "trigger_id": None})
    assert r.status_code == 200, r.text
    other = page_client(url)  # another browser naming that session
    r = other.post(f"{url}/gradio_api/queue/join", json={"data": [None], "fn_index": index, "session_hash": key})
    assert r.status_code == 403 and r.text == guard.FOREIGN_SESSION
    assert other.get(f"{url}/gradio_api/heartbeat/{key}").status_code == 403  # nor end it by its heartbeat
    assert other.get(f"{url}/gradio_api/queue/data", params={"session_hash": key}).status_code == 403
    assert other.post(f"{url}/gradio_api/cancel", json={"session_hash": key, "fn_index": index,
                                                       "event_id": "x"}).status_code == 403


def test_files_are_served_only_to_their_client(app):
    url, _ = app
    a, b = api_client(url), api_client(url)
    mine = upload(url, CT.read_bytes(), "mine.png", http=a)
    session = uuid.uuid4().hex
    event, out = call(url, ask_args(mine, "Please segment the liver."), session=session, http=a)
    assert event == "complete" and out[1], out
    outputs = [m["url"] for m in out[1]] + [out[2]["url"]]
    upload_url = f"{url}/gradio_api/file={mine}"
    for target in [upload_url, *outputs]:
        assert a.get(target).status_code == 200, target
        assert b.get(target).status_code == 403, target  # another client with the URL
        assert httpx.get(target).status_code == 403, target  # no cookie
        assert b.get(target.replace("/file=", "/file/")).status_code == 403  # Gradio's older route
    # B passes A's upload as its own input, in its own session and in A's
    assert_clear(*call(url, ask_args(mine), http=b), "another client's upload")
    assert call(url, ask_args(mine), session=session, http=b) == ("http", guard.FOREIGN_SESSION)
    # an upload of A that A's session has not used yet: not B's to take either
    fresh = upload(url, CT.read_bytes(), "fresh.png", http=a)
    assert_clear(*call(url, ask_args(fresh), http=b), "another client's unused upload")
    assert call(url, ask_args(fresh), session=session, http=a)[0] == "complete"


def test_plain_http_without_cookies_still_works(app):
    """A caller without a cookie jar (curl) keeps using /ask with its own uploads; its uploads are never
    served back, its outputs only through their unguessable URLs, and never to a client with a cookie."""
    url, _ = app
    path = upload(url, CT.read_bytes(), "curl.png")
    event, out = call(url, ask_args(path, "Please segment the liver."))
    assert event == "complete" and out[1]
    assert httpx.get(f"{url}/gradio_api/file={path}").status_code == 403
    assert httpx.get(out[1][0]["url"]).status_code == 200
    assert api_client(url).get(out[1][0]["url"]).status_code == 403
