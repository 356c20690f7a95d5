"""Packaging: the wheel holds `medplib` only (with the built-in checkpoint), its dependencies are those of
requirements.txt, and the `medplib` console script dispatches to the library's commands. Offline: the wheel
is built with the installed setuptools (no build isolation) from a copy of the sources."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from medplib import cli

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "medplib" / "assets" / "medplib-tiny"
APP_AND_TEST = {"gradio", "mcp", "pytest", "playwright", "axe-playwright-python", "ruff"}  # requirements.txt also serves the Space and CI


def requirement_name(line: str) -> str:
    return re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "medplib", src / "medplib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("demo", "bench", "tests"):  # present next to it, as in a checkout, but must stay out
        (src / name).mkdir()
        (src / name / "__init__.py").write_text("")
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                          "--no-index", "-w", str(out), "-q"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = out.glob("medplib-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_holds_medplib_only_with_the_builtin_model(wheel):
    names = wheel.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"medplib", next(t for t in tops if t.endswith(".dist-info"))}
    assert "medplib/io/reader.py" in names and "medplib/cli.py" in names
    shipped = {p.name for p in ASSETS.iterdir() if p.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= shipped
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("medplib/assets/medplib-tiny/")} == shipped
    info = wheel.read(next(t for t in tops if t.endswith(".dist-info")) + "/top_level.txt").decode().split()
    assert info == ["medplib"]


def test_wheel_metadata_matches_requirements(wheel):
    dist_info = next(n.split("/", 1)[0] for n in wheel.namelist() if ".dist-info/" in n)
    meta = wheel.read(f"{dist_info}/METADATA").decode()
    core = {requirement_name(line.split(":", 1)[1]) for line in meta.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line}
    extras = {requirement_name(line.split(":", 1)[1]) for line in meta.splitlines()
              if line.startswith("Requires-Dist:") and "extra ==" in line}
    wanted = {requirement_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert core == wanted - APP_AND_TEST
    assert APP_AND_TEST <= extras
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert re.search(r"^medplib = medplib\.cli:main$", entry_points, re.M)


def test_cli_dispatches_to_the_module_commands(capsys):
    assert cli.main([]) == 2 and "convert" in capsys.readouterr().out
    assert cli.main(["serve"]) == 2 and "unknown command 'serve'" in capsys.readouterr().err
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as stop:
            cli.main([name, "--help"])
        assert stop.value.code == 0
        assert "usage:" in capsys.readouterr().out
