import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
PARITY_DIR = SHARED / "parity"


@pytest.fixture(scope="session")
def parity_v1():
    """The recorded tiny fixture of the original implementation (skips when ../shared is absent)."""
    import torch

    path = PARITY_DIR / "parity_tiny_v1.pt"
    if not path.exists():
        pytest.skip("../shared/reference/parity is not present (only in the team's checkout / CI)")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="session")
def keys_7b_file():
    path = SHARED / "keys_7b.txt"
    if not path.exists():
        pytest.skip("../shared/reference/keys_7b.txt is not present")
    return path
