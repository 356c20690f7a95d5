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


def pytest_collection_modifyitems(items):
    # Every test in test_browser.py drives Chromium: `-m "not browser"` skips them all.
    for item in items:
        if item.path.name == "test_browser.py":
            item.add_marker(pytest.mark.browser)
