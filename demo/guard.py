"""HTTP-level privacy of the demo: a pure ASGI middleware in front of Gradio's routes.

- every response to a request without our cookie sets one (demo.clients): a ``page`` client id on
  the app's HTML page, an ``api`` client id elsewhere.
- ``POST .../upload``: each upload request is received into a private folder of its own
  (:func:`demo.files.new_upload_dir`, bound to the client) instead of Gradio's content-hash folder
  shared by every session that uploads the same bytes; Gradio's own upload code does the parsing.
- every request naming a session (``queue/join``, ``call/<api>``, ``queue/data``, ``heartbeat``,
  ``cancel``) binds it to the client of its first request; another client naming it gets 403.
- ``POST .../queue/join``, ``.../call/<api>``: only the public events (:data:`PUBLIC_EVENTS`) are open
  to every client, the others only to a ``page`` client; the uploads a request names are claimed by
  its session when it joins the queue; a body that is not JSON gets a plain sentence.
- ``GET .../openapi.json``: not served (404).
- ``GET .../config``: the absolute temp folder is removed from the paths it lists (the gallery's
  cached copies); the browser uses the ``url`` fields.
- ``GET .../heartbeat/<session>``: the session has a live connection and ends with it (unload);
  sessions without one end after a while idle (demo.files.sweep).
- ``GET .../file=...``: a file of the private folder is served only to the client it belongs to
  (:func:`demo.files.may_read`) while it exists, everything else as Gradio decides.

Installed with ``launch(app_kwargs={"middleware": [guard.middleware(demo)]})`` (see demo.ui.launch),
which also marks every event but :data:`PUBLIC_EVENTS` private (:func:`privatize`).
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any
from urllib.parse import unquote

from demo import api_requests, clients, files

PUBLIC_EVENTS = ("ask",)  # api names any client may call (the /ask API, its MCP tool); the rest: the page only
FOREIGN_SESSION = "This session belongs to another client. Please start your own session."
PAGE_ONLY = ("That event belongs to the app's web page and cannot be called from outside. "
             "Programs can use the /ask endpoint.")
API_PATHS = ("/gradio_api/call/v2/", "/gradio_api/call/", "/gradio_api/api/", "/gradio_api/run/")


def middleware(blocks: Any):
    from starlette.middleware import Middleware

    privatize(blocks)
    return Middleware(PrivacyGuard, blocks=blocks)


def privatize(blocks: Any, public: tuple[str, ...] = PUBLIC_EVENTS) -> None:
    """Mark every event of ``blocks`` private except the ``public`` api names (one rule for all the UI's
    events, whatever each was declared with); the guard then refuses them to every client but the page."""
    for fn in blocks.fns.values():
        if fn.api_name not in public:
            fn.api_visibility = "private"
    blocks.config = blocks.get_config_file()


class PrivacyGuard:
    def __init__(self, app, blocks: Any):
        self.app = app
        self.blocks = blocks
        # Gradio's queue keeps, per session, the ids of its events until their results are delivered
        files.set_pending_check(lambda key: bool(getattr(blocks._queue, "pending_event_ids_session", {}).get(key)))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        client = None if _mcp_loopback(scope, self.blocks) else clients.from_headers(scope.get("headers", []))
        if method == "GET" and path in ("", "/") and (client is None or client.kind != "page"):
            send = _with_cookie(send, clients.mint("page"), scope)
        elif client is None:
            send = _with_cookie(send, clients.mint("api"), scope)
        cid = client.id if client else None
        if path.endswith("/openapi.json") or path.endswith("/docs"):
            return await _plain(send, 404, "Not found")
        if method == "POST" and path.endswith("/gradio_api/upload"):
            return await self._upload(scope, receive, send, cid)
        if method == "POST" and (path.endswith("/queue/join") or any(a in path for a in API_PATHS)):
            return await self._join(scope, receive, send, client)
        if method == "POST" and path.endswith("/gradio_api/cancel"):
            return await self._cancel(scope, receive, send, cid)
        named = _session_named(scope)
        if named is not None and not files.bind_client(named, cid):
            return await _plain(send, 403, FOREIGN_SESSION)
        if "/heartbeat/" in path and named is not None:
            files.attach(named)
        if method == "GET" and path.endswith("/config"):
            return await self._scrubbed(scope, receive, send)
        target = _file_target(path)
        if target is not None and _is_private(target) and not files.may_read(target, cid):
            return await _plain(send, 403, "File not allowed.")
        return await self.app(scope, receive, send)

    async def _upload(self, scope, receive, send, cid: str | None):
        from fastapi import HTTPException
        from gradio.route_utils import MultiPartException, upload_fn
        from gradio.routes import file_upload_statuses
        from starlette.requests import Request

        request = Request(scope, receive)
        upload_id = request.query_params.get("upload_id")
        folder = files.new_upload_dir(cid)
        limit = self.blocks.max_file_size if self.blocks.max_file_size is not None else math.inf
        try:
            output, _, _ = await upload_fn(request, str(folder), limit, upload_id, force_move=True,
                                           upload_progress=file_upload_statuses if upload_id else None)
        except MultiPartException as exc:
            files.sweep_now(folder)
            code = 413 if "maximum allowed size" in exc.message else 400
            return await _plain(send, code, exc.message)
        except HTTPException as exc:
            files.sweep_now(folder)
            return await _plain(send, exc.status_code, "The upload could not be read.")
        self.blocks.upload_file_set.update(output)
        return await _send(send, 200, json.dumps(output).encode(), "application/json")

    async def _join(self, scope, receive, send, client: clients.Client | None):
        """A request joins the queue: only a page client may run a private event; the session is
        bound to the client; its uploads are claimed by its session now, not when its turn comes
        (an upload waiting in a long queue must not expire); a request without a session gets one,
        so that its files have an owner that can end."""
        raw = await _body(receive)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return await _plain(send, 400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return await _plain(send, 400, 'The request body must be a JSON object like {"data": [...]}.')
        fn = self._public_fn(scope.get("path", ""), body)
        if fn is None and (client is None or client.kind != "page"):
            return await _plain(send, 403, PAGE_ONLY)
        problem = api_requests.problem(body, fn, "/call/v2/" not in scope.get("path", ""))
        if problem:
            return await _plain(send, 400, problem)
        minted = not body.get("session_hash")
        if minted:
            body["session_hash"] = secrets.token_hex(16)
        if minted or fn is not None:  # a public event's file arguments are rewritten to their plain form
            raw = json.dumps(body).encode()
        key = str(body["session_hash"])
        if not files.bind_client(key, client.id if client else None):
            return await _plain(send, 403, FOREIGN_SESSION)
        for p in _paths(body.get("data")):
            files.may_use(key, p)  # a refused path gets the handler's message later
        return await self.app(_with_length(scope, raw), _replay(raw, receive), _plain_422(send))

    def _public_fn(self, path: str, body: dict) -> Any:
        """The public event a join / call names, or None (a private one, or one that cannot be told)."""
        public = {i: fn for i, fn in self.blocks.fns.items() if fn.api_name in PUBLIC_EVENTS}
        if "/queue/join" in path:
            index = body.get("fn_index")
            try:
                ok = isinstance(index, (int, float, str)) and not isinstance(index, bool)
                return public.get(int(index)) if ok else None
            except (TypeError, ValueError, OverflowError):
                return None
        name = next((path.split(a, 1)[1] for a in API_PATHS if a in path), "").strip("/").split("/")[0]
        return next((fn for fn in public.values() if fn.api_name == name), None)

    async def _cancel(self, scope, receive, send, cid: str | None):
        """Cancelling names a session: only its own client may."""
        raw = await _body(receive)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return await _plain(send, 400, "The request body is not valid JSON.")
        key = body.get("session_hash") if isinstance(body, dict) else None
        if isinstance(key, str) and not files.bind_client(key, cid):
            return await _plain(send, 403, FOREIGN_SESSION)
        return await self.app(_with_length(scope, raw), _replay(raw, receive), send)


    async def _scrubbed(self, scope, receive, send):
        """Pass the response through with the temp folder's absolute path removed from it."""
        root = str(files.temp_root()).encode()
        started: dict = {}
        body = bytearray()

        async def capture(message):
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    data = bytes(body).replace(root + b"/", b"").replace(root, b"")
                    headers = [(k, v) for k, v in started.get("headers", []) if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(data)).encode()))
                    await send({**started, "headers": headers})
                    await send({"type": "http.response.body", "body": data})

        await self.app(scope, receive, capture)


def _paths(data: Any, depth: int = 0) -> list[str]:
    """File paths named in a request's data (``{"path": ...}`` objects, a few levels deep)."""
    if depth > 4:
        return []
    if isinstance(data, dict):
        p = data.get("path")
        return [p] if isinstance(p, str) else [q for v in data.values() for q in _paths(v, depth + 1)]
    if isinstance(data, list):
        return [q for v in data[:64] for q in _paths(v, depth + 1)]
    return []


def _is_private(target: str) -> bool:
    from pathlib import Path

    try:
        return Path(target).resolve().is_relative_to(files.private_root())
    except (OSError, ValueError):
        return False


def _plain_422(send):
    """``send`` that turns a validation error (422, the validator's JSON) into a plain sentence."""
    replaced = False

    async def wrapped(message):
        nonlocal replaced
        if message["type"] == "http.response.start" and message.get("status") == 422:
            replaced = True
            return await _plain(send, 422, "The request does not have the form this endpoint takes "
                                           '({"data": [...]} with one value per argument).')
        if not replaced:
            await send(message)

    return wrapped


def _file_target(path: str) -> str | None:
    """The file a ``.../file=<path>`` or ``.../file/<path>`` request names."""
    for marker in ("/gradio_api/file=", "/gradio_api/file/", "/file="):
        if marker in path:
            return unquote(path.split(marker, 1)[1])
    return None


def _mcp_loopback(scope, blocks: Any) -> bool:
    """A request of Gradio's MCP server to its own app (`--mcp`): it forwards every tool call through one
    loopback gradio_client (header ``x-gradio-user: mcp``) that carries the MCP caller's headers mixed with its
    own, so its cookie says nothing; it is served as a cookieless API client (its outputs reachable by URL)."""
    if getattr(blocks, "mcp_server_obj", None) is None:
        return False
    host = (scope.get("client") or ("",))[0]
    return host in ("127.0.0.1", "::1") and (b"x-gradio-user", b"mcp") in scope.get("headers", [])


def _session_named(scope) -> str | None:
    """The session a ``heartbeat/<session>`` or ``queue/data?session_hash=`` request names."""
    path = scope.get("path", "")
    if "/heartbeat/" in path:
        return path.rstrip("/").rsplit("/", 1)[-1] or None
    if path.endswith("/queue/data"):
        from urllib.parse import parse_qs

        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash")
        return values[0] if values else None
    return None


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(raw: bytes, receive):
    """An ASGI ``receive`` that hands the already-read body over once, then the real channel."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replay


def _with_length(scope, raw: bytes) -> dict:
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(raw)).encode()))
    return {**scope, "headers": headers}


def _with_cookie(send, client: clients.Client, scope):
    """``send`` that adds the client's cookie to the response."""
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    https = scope.get("scheme") == "https" or headers.get(b"x-forwarded-proto", b"").startswith(b"https")
    cookie = clients.set_cookie(client, https)

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), cookie]}
        await send(message)

    return wrapped


async def _plain(send, status: int, text: str):
    await _send(send, status, text.encode(), "text/plain; charset=utf-8")


async def _send(send, status: int, body: bytes, content_type: str):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
