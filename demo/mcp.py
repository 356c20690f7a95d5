"""What `python app.py --mcp` needs beyond Gradio's own MCP server: JSON inputs of /ask with a real schema.

Gradio turns every API endpoint into an MCP tool (name = the function's name, description and parameter
texts = its docstring, parameter types = the components' ``api_info``). ``gr.JSON`` describes itself as
``{"type": {}}``, which is no JSON schema: the MCP server validates every call against the tool's schema and
refuses all of them. :class:`JSONArg` is a ``gr.JSON`` that states its schema; the values it receives are
checked by :mod:`demo.api_inputs` exactly as over HTTP.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

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
