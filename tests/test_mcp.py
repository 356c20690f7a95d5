"""`python app.py --mcp`: the live app serves the ask tool over MCP (Gradio's server, the `mcp` package's client);
its schema comes from the typed, documented /ask function; calls keep the /ask argument checks. Off by default."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from tests.app_helpers import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ct.png"
PARAMETERS = {"image", "question", "regions", "region_masks", "history", "max_new_tokens", "temperature"}


def test_mcp_is_off_unless_asked_for(monkeypatch):
    import app
    import demo.ui

    seen = []
    monkeypatch.setattr(demo.ui, "launch", lambda demo, **kwargs: seen.append(kwargs))  # no server here
    monkeypatch.setenv("GRADIO_MCP_SERVER", "true")  # Gradio's own switch does not turn it on
    app.main([])
    app.main(["--mcp"])
    assert [kw["mcp_server"] for kw in seen] == [False, True]
    assert all(kw.get("host") is None and "share" not in kw for kw in seen)  # launch's privacy defaults apply


@pytest.fixture(scope="module")
def live_mcp(tmp_path_factory):
    port = free_port()
    temp = tmp_path_factory.mktemp("gradio")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(temp),
           "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path_factory.mktemp("log") / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--mcp", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:  # wait for the server to answer (model load + Gradio start)
        try:
            urllib.request.urlopen(url + "/", timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the app did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
    yield url, log, temp
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _session_calls(url: str, calls: list[dict]) -> tuple[list, list]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url + "/gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            results = [await session.call_tool("ask", args, read_timeout_seconds=None) for args in calls]
    return tools, results


@pytest.mark.slow
def test_live_app_lists_and_runs_the_ask_tool(live_mcp):
    url, log, temp = live_mcp
    image = "data:image/png;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode()
    tools, (answer, refused, bad_region) = asyncio.run(_session_calls(url, [
        {"image": image, "question": "What is the main abnormal finding in this image?", "max_new_tokens": 16},
        {"image": image, "question": "What is in <region2>?"},
        {"image": image, "question": "What is in <region1>?", "regions": [{"point": [5000, 1]}]},
    ]))

    (tool,) = tools
    assert tool.name == "ask" and "Ask MedPLIB about an image" in tool.description
    schema = tool.inputSchema
    assert set(schema["properties"]) == PARAMETERS and {"image", "question"} <= set(schema["required"])
    props = schema["properties"]
    assert props["question"]["type"] == "string" and props["regions"]["type"] == "array"
    assert props["history"]["items"]["type"] == "array" and props["max_new_tokens"]["type"] in ("number", "integer")
    assert '"point"' in props["regions"]["description"]  # the docstring's Args, not a placeholder
    assert "1-1024" in props["max_new_tokens"]["description"] and "DICOM" in props["image"]["description"]

    assert not answer.isError
    text = " ".join(getattr(c, "text", "") for c in answer.content)
    assert "raw_text" in text and "<SEG>" not in text.split("raw_text")[0]
    assert refused.isError and "<region2>" in refused.content[0].text and "no region is drawn" in refused.content[0].text
    assert bad_region.isError and "Region 1" in bad_region.content[0].text  # demo/api_inputs' own message
    assert "127.0.0.1" in log.read_text() and "gradio.live" not in log.read_text()  # local only, no share link

    from gradio.processing_utils import hash_base64

    cached, deadline = temp / hash_base64(image), time.monotonic() + 15
    while cached.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # deleted when the tool call's response ends, which the client may see first
    assert not cached.exists()  # Gradio's cached copy of the inline image
    private = temp / "medplib-private"
    deadline = time.monotonic() + 90
    while any(p.is_file() for p in private.rglob("*")) and time.monotonic() < deadline:
        time.sleep(1)  # the loopback session ends after the idle time of a plain HTTP caller
    assert not any(p.is_file() for p in private.rglob("*")), sorted(private.rglob("*"))
