"""HTTP-level privacy of the demo: a pure ASGI middleware in front of Gradio's routes.

- ``POST .../upload``: each upload request is received into a private folder of its own
  (:func:`demo.files.new_upload_dir`) instead of Gradio's content-hash folder shared by every
  session that uploads the same bytes; Gradio's own upload code does the parsing.
- ``POST .../queue/join``, ``.../call/<api>``: the uploads a request names are claimed by its
  session when it joins the queue; a body that is not JSON gets a plain sentence.
- ``GET .../openapi.json``: not served (404).
- ``GET .../config``: the absolute temp folder is removed from the paths it lists (the gallery's
  cached copies); the browser uses the ``url`` fields.
- ``GET .../heartbeat/<session>``: the session has a live connection and ends with it (unload);
  sessions without one end after a while idle (demo.files.sweep).
- ``GET .../file=...``: a file of the private folder is served only while it is registered (an
  upload not yet deleted, or a session's own file), everything else as Gradio decides.

Installed with ``launch(app_kwargs={"middleware": [guard.middleware(demo)]})`` (see demo.ui.launch).
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any
from urllib.parse import unquote

from demo import files


def middleware(blocks: Any):
    from starlette.middleware import Middleware

    return Middleware(PrivacyGuard, blocks=blocks)


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
        if path.endswith("/openapi.json") or path.endswith("/docs"):
            return await _plain(send, 404, "Not found")
        if method == "POST" and path.endswith("/gradio_api/upload"):
            return await self._upload(scope, receive, send)
        if method == "POST" and (path.endswith("/queue/join") or "/gradio_api/call/" in path
                                 or "/gradio_api/api/" in path):
            return await self._join(scope, receive, send)
        if "/heartbeat/" in path:
            files.attach(path.rstrip("/").rsplit("/", 1)[-1])
        if method == "GET" and path.endswith("/config"):
            return await self._scrubbed(scope, receive, send)
        if "/file=" in path:
            target = unquote(path.split("/file=", 1)[1])
            if _is_private(target) and not _registered(target):
                return await _plain(send, 403, "File not allowed.")
        return await self.app(scope, receive, send)

    async def _upload(self, scope, receive, send):
        from fastapi import HTTPException
        from gradio.route_utils import MultiPartException, upload_fn
        from gradio.routes import file_upload_statuses
        from starlette.requests import Request

        request = Request(scope, receive)
        upload_id = request.query_params.get("upload_id")
        folder = files.new_upload_dir()
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

    async def _join(self, scope, receive, send):
        """A request joins the queue: its uploads are claimed by its session now, not when its turn
        comes (an upload waiting in a long queue must not expire); a request without a session
        gets one, so that its files have an owner that can end."""
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except ValueError:
            return await _plain(send, 400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return await _plain(send, 400, 'The request body must be a JSON object like {"data": [...]}.')
        if not body.get("session_hash"):
            body["session_hash"] = secrets.token_hex(16)
            raw = json.dumps(body).encode()
        key = str(body["session_hash"])
        for p in _paths(body.get("data")):
            files.may_use(key, p)  # a refused path gets the handler's message later
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        return await self.app({**scope, "headers": headers}, replay, send)

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


def _registered(target: str) -> bool:
    return files.is_live(target)


async def _plain(send, status: int, text: str):
    await _send(send, status, text.encode(), "text/plain; charset=utf-8")


async def _send(send, status: int, body: bytes, content_type: str):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
