import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Reference fixtures recorded from the original implementation (tests/data/PARITY.md says how). They are part of
# the repository: a missing one is a broken checkout, so the tests that need it fail instead of skipping.
DATA = Path(__file__).resolve().parent / "data"
PARITY_FIXTURE = DATA / "parity_tiny_v1.pt"
KEYS_7B = DATA / "keys_7b.txt"  # parameter names and shapes of the released 7B checkpoint


def _required(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the reference fixtures in tests/data are part of the repository")
    return path


@pytest.fixture(scope="session")
def parity_v1():
    """The recorded tiny fixture of the original implementation."""
    import torch

    return torch.load(_required(PARITY_FIXTURE), weights_only=True)


@pytest.fixture(scope="session")
def keys_7b_file():
    return _required(KEYS_7B)


@pytest.fixture(scope="module")
def temp_dir(tmp_path_factory):
    """Gradio's temp folder for one test module's live app (the reliability tests)."""
    from demo import files

    folder = tmp_path_factory.mktemp("gradio-tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(folder))
        # short lifetimes so that the residue checks finish in seconds (the app's are under a minute)
        mp.setattr(files, "UNCLAIMED_TTL_S", 15.0)
        mp.setattr(files, "DETACHED_IDLE_S", 15.0)
        mp.setattr(files, "SWEEP_EVERY_S", 0.5)
        yield folder


@pytest.fixture(scope="module")
def live(temp_dir, tmp_path_factory):
    from demo import ui
    from tests.app_helpers import free_port, load_test_model

    medplib = load_test_model(tmp_path_factory.mktemp("model"))
    demo = ui.build_app(medplib, {"max_new_tokens": 2})
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, max_file_size="5mb", prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}"
    demo.close()


@pytest.fixture(scope="module")
def grounded_app(temp_dir, tmp_path_factory):
    """Like `live`, with answers forced to hold one <SEG> (mask files to fetch): (url, Blocks, forcing)."""
    from demo import ui
    from tests.app_helpers import free_port, grounding_kwargs, load_test_model

    medplib = load_test_model(tmp_path_factory.mktemp("model"))
    kwargs, forced = grounding_kwargs(medplib, max_new_tokens=8)
    demo = ui.build_app(medplib, kwargs)
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}", demo, forced
    demo.close()


def pytest_collection_modifyitems(items):
    # Every test in test_browser*.py drives Chromium: `-m "not browser"` skips them all.
    for item in items:
        if item.path.name.startswith("test_browser"):
            item.add_marker(pytest.mark.browser)
