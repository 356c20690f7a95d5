"""The form of a request to a public endpoint (`/ask`), checked before Gradio reads it (demo.guard).

Gradio validates the body, the file objects and the paths they name itself, but its refusals reach
the caller as an error without a message (or the validator's JSON). Here each gets one sentence
naming the argument, and every file argument is rewritten to the plain form Gradio accepts
(``{"path", "meta", "orig_name"}``): an uploaded file, never a URL the server would fetch.
"""

from __future__ import annotations

import os
from typing import Any

from demo import files

FILE_FORM = '{"path": <the path POST /gradio_api/upload returned>, "meta": {"_type": "gradio.FileData"}}'
MAX_PATH = 4096


def problem(body: dict, fn: Any, listed: bool) -> str | None:
    """A sentence for a body the endpoint ``fn`` cannot take, else None (``body["data"]`` may be
    rewritten); ``listed``: ``data`` is a list (every route but ``call/v2``)."""
    if body.get("session_hash") is not None and not isinstance(body["session_hash"], str):
        return "session_hash must be text."
    if not listed:
        return None
    data = body.get("data")
    if not isinstance(data, list):
        return 'The request body must be a JSON object like {"data": [...]}, with "data" a list of the values.'
    if fn is None:
        return None
    api_inputs = [b for b in fn.inputs if not getattr(b, "skip_api", False)]
    if len(data) not in (len(api_inputs), len(fn.inputs)):
        names = ", ".join(_label(b) for b in api_inputs)
        return f"/{fn.api_name} takes {len(api_inputs)} values in data ({names}); the request has {len(data)}."
    blocks = fn.inputs if len(data) == len(fn.inputs) else api_inputs
    for i, (block, value) in enumerate(zip(blocks, data)):
        if getattr(block, "skip_api", False):
            continue
        if _takes_files(block):
            multiple = getattr(block, "file_count", "single") != "single"
            fixed = _files(value, _label(block), multiple)
            if isinstance(fixed, str):
                return fixed
            data[i] = fixed[0]
        elif _holds_file(value):
            return f"{_label(block)} cannot hold a file; only the file arguments can."
    return None


def _label(block: Any) -> str:
    return getattr(block, "label", None) or "an argument"


def _takes_files(block: Any) -> bool:
    import gradio as gr

    return isinstance(block, (gr.File, gr.Image))


def _holds_file(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds an object Gradio treats as a file (``{"path": ..., "meta": {"_type":
    "gradio.FileData"}}``) at any depth Gradio looks."""
    if depth > 64:
        return False
    if isinstance(value, dict):
        meta = value.get("meta")
        if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData" and "path" in value:
            return True
        return any(_holds_file(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_holds_file(v, depth + 1) for v in value)
    return False


def _files(value: Any, label: str, multiple: bool) -> tuple[Any] | str:
    """(the value in Gradio's plain form,) or a sentence."""
    if value is None:
        return ([] if multiple else None,)
    if multiple:
        if not isinstance(value, list):
            return f"{label} must be a list of uploaded files, each {FILE_FORM}."
        out = []
        for item in value:
            one = _file(item, label)
            if isinstance(one, str):
                return one
            out.append(one)
        return (out,)
    one = _file(value, label)
    return one if isinstance(one, str) else (one,)


def _file(value: Any, label: str) -> dict | str:
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or not value["path"].strip():
        return f"{label} must be an uploaded file: {FILE_FORM}."
    path = value["path"]
    if "://" in path or len(path) > MAX_PATH or "\0" in path:
        return f"{label} must be a file uploaded to this app (POST /gradio_api/upload), not a URL or other text."
    if not os.path.abspath(path).startswith(str(files.temp_root()) + os.sep):
        return f"{label}: {files.NOT_YOURS}"
    name = value.get("orig_name")
    plain = {"path": path, "meta": {"_type": "gradio.FileData"}}
    if isinstance(name, str) and 0 < len(name) <= 255:
        plain["orig_name"] = name
    return plain
