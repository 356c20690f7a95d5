"""What `python app.py --mcp` needs beyond Gradio's own MCP server: JSON inputs of /ask with a real schema, and
a cleanup of what each tool call brings in (:class:`MCPCleanup`).

Gradio turns every API endpoint into an MCP tool (name = the function's name, description and parameter
texts = its docstring, parameter types = the components' ``api_info``). ``gr.JSON`` describes itself as
``{"type": {}}``, which is no JSON schema: the MCP server validates every call against the tool's schema and
refuses all of them. :class:`JSONArg` is a ``gr.JSON`` that states its schema; the values it receives are
checked by :mod:`demo.api_inputs` exactly as over HTTP.
"""

from __future__ import annotations

import json
import shutil
import threading
from typing import Any

import gradio as gr

from demo.files import DETACHED_IDLE_S, end_session, temp_root

_NUMBERS = {"type": "array", "items": {"type": "number"}}
REGIONS_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "properties": {
        "point": {**_NUMBERS, "minItems": 2, "maxItems": 2, "description": "[x, y] in pixels of the image"},
        "box": {**_NUMBERS, "minItems": 4, "maxItems": 4, "description": "[x1, y1, x2, y2] in pixels of the image"}}},
}
HISTORY_SCHEMA = {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2,
                                             "maxItems": 2}}


class JSONArg(gr.JSON):
    """A hidden API input holding JSON of a known ``schema`` (shown in the API docs and the MCP tool)."""

    def __init__(self, schema: dict, **kwargs: Any):
        self.schema = schema
        super().__init__(**kwargs)

    def get_block_name(self) -> str:
        return "json"

    def api_info(self) -> dict[str, Any]:
        return dict(self.schema)


class MCPCleanup:
    """ASGI middleware for `--mcp`: what an MCP tool call brings in does not outlive it.

    Gradio's MCP layer writes an inline (``data:`` base64) file argument into Gradio's shared cache folder
    (``<temp>/<hash of the data>/``) and forwards every call through one loopback ``gradio_client`` whose
    session lives as long as the server. After each tool call the cached copies of its inline files are
    deleted at once; the loopback session (its uploads, masks, overlays) ends after
    :data:`demo.files.DETACHED_IDLE_S` without an MCP call, like a plain HTTP caller's (time to fetch the
    file URLs an answer names)."""

    def __init__(self, app, blocks: Any):
        self.app, self.blocks = app, blocks
        self.running = self.calls = 0
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or "/gradio_api/mcp" not in scope.get("path", ""):
            return await self.app(scope, receive, send)
        from starlette.requests import Request

        raw = await Request(scope, receive).body()  # read once to find inline files; the app gets it replayed
        unread = [{"type": "http.request", "body": raw, "more_body": False}]

        async def replay():
            return unread.pop() if unread else await receive()

        with self.lock:
            self.running += 1
            self.calls += 1
        try:
            return await self.app(scope, replay, send)
        finally:
            from gradio.processing_utils import hash_base64

            for value in _inline_files(raw):
                shutil.rmtree(temp_root() / hash_base64(value), ignore_errors=True)
            with self.lock:
                self.running -= 1
                calls = self.calls
            timer = threading.Timer(DETACHED_IDLE_S, self._end_if_idle, (calls,))
            timer.daemon = True
            timer.start()

    def _end_if_idle(self, calls: int) -> None:
        with self.lock:
            if self.running or self.calls != calls:  # another call came since
                return
        client = getattr(getattr(self.blocks, "mcp_server_obj", None), "_client_instance", None)
        if client is not None:
            end_session(client.session_hash)


def _inline_files(raw: bytes) -> list[str]:
    """The ``data:`` strings among a JSON-RPC body's tool-call arguments."""
    try:
        body = json.loads(raw)
    except ValueError:
        return []
    calls = body if isinstance(body, list) else [body]
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str) and node.startswith("data:"):
            found.append(node)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for call in calls:
        if isinstance(call, dict) and call.get("method") == "tools/call":
            walk((call.get("params") or {}).get("arguments"))
    return found


def middleware(blocks: Any):
    from starlette.middleware import Middleware

    return Middleware(MCPCleanup, blocks=blocks)
