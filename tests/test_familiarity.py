"""Familiarity (medplib.familiarity): synthetic phantoms familiar, real and non-medical images not; and mask scores."""

import os

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

from medplib.synthetic.generate import iter_cases
from medplib.familiarity import FILENAME, FamiliarityReference, build_reference, main
from medplib.pipeline import MedPLIB
from tests.helpers import ScriptedTokens, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def builtin():
    return MedPLIB.from_pretrained()


def _uint8(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return ((a - a.min()) / (np.ptp(a) + 1e-9) * 255).astype(np.uint8)


def real_images() -> dict[str, np.ndarray]:
    import nibabel
    import pydicom
    import skimage.data as sk
    from nibabel.testing import data_path
    from pydicom.data import get_testdata_file

    out = {name: _uint8(pydicom.dcmread(get_testdata_file(name)).pixel_array) for name in ("CT_small.dcm", "MR_small.dcm")}
    volume = nibabel.load(os.path.join(data_path, "anatomical.nii")).get_fdata()
    out["anatomical.nii axial"] = _uint8(volume[:, :, volume.shape[2] // 2])
    out["anatomical.nii sagittal"] = _uint8(volume[volume.shape[0] // 2])
    for name in ("astronaut", "cell", "retina", "camera", "coffee", "chelsea", "coins", "immunohistochemistry", "horse"):
        out[name] = getattr(sk, name)()
    return out


def test_builtin_ships_a_reference_and_flags_real_and_nonmedical_images(builtin):
    assert builtin.familiarity_reference is not None
    flagged = {name: builtin.encode(img) for name, img in real_images().items()}
    familiar = [name for name, enc in flagged.items() if enc.familiar]
    assert familiar == [], f"real / non-medical images scored familiar: {familiar}"
    assert all(isinstance(enc.familiarity, float) for enc in flagged.values())


def test_builtin_finds_fresh_synthetic_test_phantoms_familiar(builtin):
    cases = [case for _, _, case, _ in iter_cases(48, seed=11, split="test")]  # 6 of each of the 8 modalities
    encoded = [builtin.encode(case.image) for case in cases]
    assert np.mean([e.familiar for e in encoded]) >= 0.95
    real = builtin.encode(real_images()["astronaut"]).familiarity
    assert min(e.familiarity for e in encoded) > real  # higher = closer to the training images


def test_reference_threshold_is_a_leave_one_out_quantile_and_round_trips(tmp_path):
    torch.manual_seed(0)
    desc = torch.randn(200, 8) * 0.1 + torch.tensor([1.0] * 4 + [0.0] * 4)
    ref = build_reference(desc, quantile=0.05)
    assert ref.bank.shape == (200, 8) and torch.allclose(ref.bank.norm(dim=-1), torch.ones(200))
    sims = ref.bank @ ref.bank.T
    sims.fill_diagonal_(-2)
    below = (sims.max(dim=-1).values < ref.threshold).float().mean()
    assert 0.02 <= below <= 0.06
    ref.save(tmp_path / FILENAME)
    loaded = FamiliarityReference.load(tmp_path / FILENAME)
    assert loaded.threshold == pytest.approx(ref.threshold) and loaded.quantile == 0.05
    torch.testing.assert_close(loaded.bank, ref.bank, atol=2e-3, rtol=0)
    with pytest.raises(ValueError, match="calibrate"):
        loaded.score(torch.randn(2, 3, 3))  # CLIP width 3 (6-wide descriptors) against a reference for width 4


def test_calibrate_command_for_any_checkpoint(tmp_path):
    from PIL import Image

    tok = tiny_tokenizer()
    model = tiny_model(tok)
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    assert MedPLIB.from_pretrained(tmp_path / "ckpt").encode(np.zeros((20, 20), np.uint8)).familiar is None
    (tmp_path / "imgs").mkdir()
    for i, (_, _, case, _) in enumerate(iter_cases(12, seed=0, split="train")):
        Image.fromarray(case.image).save(tmp_path / "imgs" / f"{i}.png")
    out = tmp_path / "ckpt" / FILENAME
    assert main(["calibrate", "--model", str(tmp_path / "ckpt"), "--images", str(tmp_path / "imgs"), "--out", str(out)]) == 0
    medplib = MedPLIB.from_pretrained(tmp_path / "ckpt")
    enc = medplib.encode(np.asarray(Image.open(tmp_path / "imgs" / "3.png")))
    assert enc.familiar is True and enc.familiarity == pytest.approx(1.0, abs=1e-3)  # its own nearest neighbour
    with pytest.raises(SystemExit):
        main(["calibrate", "--images", str(tmp_path / "nothing"), "--out", str(out)])


def test_builtin_reports_no_mask_scores_while_a_trained_head_does(builtin, tmp_path):
    seg = builtin.tokenizer.convert_tokens_to_ids("<SEG>")
    script = [seg, builtin.tokenizer.eos_token_id]
    image = next(iter_cases(1, seed=0, split="test"))[2].image
    answer = builtin.ask(image, "Segment the liver.", max_new_tokens=3,
                         logits_processor=LogitsProcessorList([ScriptedTokens(script)]))
    assert len(answer.masks) == 1 and answer.scores == [None]
    builtin.model.config.mask_scores = True  # a checkpoint whose IoU head was trained reports its predictions
    try:
        answer = builtin.ask(image, "Segment the liver.", max_new_tokens=3,
                             logits_processor=LogitsProcessorList([ScriptedTokens(script)]))
    finally:
        builtin.model.config.mask_scores = False
    assert len(answer.scores) == 1 and isinstance(answer.scores[0], float)
