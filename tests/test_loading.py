import json
import os
import pickle
import threading

import numpy as np
import pytest
import torch
from accelerate import infer_auto_device_map
from transformers import LogitsProcessorList

from medplib import MedPLIB, MedPLIBConfig, MedPLIBForCausalLM, Partial
from medplib.checkpoints.convert import main as convert_main
from medplib.checkpoints.loading import CheckpointError, resolve
from tests.helpers import TINY_SAM, TINY_VISION, ScriptedTokens, tiny_model, tiny_tokenizer, write_released

SEG_SCRIPT_LEN = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The same random tiny model written in our format and in the released layout."""
    root = tmp_path_factory.mktemp("ckpt")
    tokenizer = tiny_tokenizer()
    model = tiny_model(tokenizer)
    ours = root / "ours"
    model.save_pretrained(str(ours), max_shard_size="200KB")
    tokenizer.save_pretrained(str(ours))
    released = write_released(model, tokenizer, root / "released")
    os.environ["MEDPLIB_CACHE"] = str(root / "cache")
    return dict(model=model, tokenizer=tokenizer, ours=ours, released=released, root=root)


def image(h=40, w=60, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def grounded_answer(medplib: MedPLIB, seg_id: int):
    script = [medplib.tokenizer.convert_tokens_to_ids("▁the"), seg_id, seg_id, medplib.tokenizer.eos_token_id]
    return medplib.ask(image(), "Segment <region1> please.", regions=[{"box": (5, 5, 30, 20)}],
                       max_new_tokens=SEG_SCRIPT_LEN, logits_processor=LogitsProcessorList([ScriptedTokens(script)]))


def test_ours_and_released_layout_give_identical_answers_and_masks(tiny):
    seg = tiny["tokenizer"].convert_tokens_to_ids("<SEG>")
    a = MedPLIB.from_pretrained(tiny["ours"])
    b = MedPLIB.from_pretrained(tiny["released"], vision_config=TINY_VISION, sam_config=TINY_SAM)
    assert a.model.config.mask_postprocess == "exact" and b.model.config.mask_postprocess == "original"
    assert a.processor.region_grid_mode == "cover" and b.processor.region_grid_mode == "nearest"
    # Same weights, same post-processing and region grid: everything must match.
    b.model.config.mask_postprocess = "exact"
    b.processor.region_grid_mode = "cover"
    ra, rb = grounded_answer(a, seg), grounded_answer(b, seg)
    assert ra.token_ids == rb.token_ids and ra.token_ids.count(seg) == 2
    assert len(ra.masks) == 2 and ra.masks[0].shape == (40, 60) and ra.masks[0].dtype == bool
    for ma, mb in zip(ra.masks, rb.masks):
        np.testing.assert_array_equal(ma, mb)
    np.testing.assert_allclose(ra.scores, rb.scores, atol=1e-5)
    # free greedy answers agree too
    assert a.ask(image(), "What modality is this?", max_new_tokens=6).token_ids == \
        b.ask(image(), "What modality is this?", max_new_tokens=6).token_ids


def test_closing_a_stream_stops_the_generation(tiny):
    medplib = MedPLIB.from_pretrained(tiny["ours"])
    script = ScriptedTokens([medplib.tokenizer.convert_tokens_to_ids("▁the")])  # never EOS: would run 400 steps
    stop = threading.Event()
    stream = medplib.stream(image(), "What is this?", max_new_tokens=400, stop_event=stop,
                            logits_processor=LogitsProcessorList([script]))
    assert isinstance(next(stream), Partial)
    stream.close()  # the consumer goes away (a closed tab)
    assert stop.is_set()
    # the generation thread holds the lock until generate() returns: once it is free, no step can follow
    assert medplib._lock.acquire(timeout=10), "the generation did not stop"
    medplib._lock.release()
    assert script.step < 400  # generation ended early


def test_convert_cli_writes_our_format(tiny, capsys):
    dst = tiny["root"] / "converted-cli"
    rc = convert_main([str(tiny["released"]), str(dst), "--vision-config", json.dumps(TINY_VISION),
                       "--sam-config", json.dumps(TINY_SAM)])
    assert rc == 0, capsys.readouterr().err
    assert (dst / "config.json").exists() and list(dst.glob("*.safetensors"))
    loaded = MedPLIBForCausalLM.from_pretrained(str(dst))
    for (k, v), (k2, v2) in zip(sorted(loaded.state_dict().items()), sorted(tiny["model"].state_dict().items())):
        assert k == k2
        torch.testing.assert_close(v, v2)


def copy_folder(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_shard_is_named(tiny, tmp_path):
    folder = copy_folder(tiny["released"], tmp_path / "r")
    (folder / "pytorch_model-00002-of-00002.bin").unlink()
    with pytest.raises(CheckpointError, match="missing shard.*00002"):
        MedPLIB.from_pretrained(folder, vision_config=TINY_VISION, sam_config=TINY_SAM)


def test_corrupted_shards_fail_clearly(tiny, tmp_path):
    folder = copy_folder(tiny["ours"], tmp_path / "o")
    shard = sorted(folder.glob("*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        MedPLIB.from_pretrained(folder)
    folder = copy_folder(tiny["released"], tmp_path / "r")
    shard = folder / "pytorch_model-00001-of-00002.bin"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        MedPLIB.from_pretrained(folder, vision_config=TINY_VISION, sam_config=TINY_SAM)


def test_wrong_shape_is_named(tiny, tmp_path):
    folder = copy_folder(tiny["released"], tmp_path / "r")
    shard = folder / "pytorch_model-00001-of-00002.bin"
    state = torch.load(shard, weights_only=True)
    key = sorted(state)[0]
    state[key] = torch.zeros(3, 3)
    torch.save(state, shard)
    with pytest.raises(CheckpointError, match="wrong shape"):
        MedPLIB.from_pretrained(folder, vision_config=TINY_VISION, sam_config=TINY_SAM)


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['MEDPLIB_PAYLOAD_MARKER']}",))


def test_pickle_with_payload_is_refused_and_not_executed(tiny, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("MEDPLIB_PAYLOAD_MARKER", str(marker))
    folder = copy_folder(tiny["released"], tmp_path / "r")
    shard = folder / "pytorch_model-00001-of-00002.bin"
    state = torch.load(shard, weights_only=True)
    with open(shard, "wb") as f:
        pickle.dump({**state, "evil": Payload()}, f)
    with pytest.raises(CheckpointError, match="refused to load"):
        MedPLIB.from_pretrained(folder, vision_config=TINY_VISION, sam_config=TINY_SAM)
    assert not marker.exists()


def test_offline_hub_id_gives_one_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match=r"Huangxs/MedPLIB-7b-2e.*hf download"):
        resolve("Huangxs/MedPLIB-7b-2e")


def test_quantization_without_cuda_is_a_clear_error(tiny):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        MedPLIB.from_pretrained(tiny["ours"], quantization=4)


def test_cpu_plus_disk_offload_matches_the_plain_model(tiny, tmp_path):
    plain = MedPLIB.from_pretrained(tiny["ours"], device_map=None)
    device_map = {"model.vision_tower": "cpu", "model.mm_projector": "cpu", "model.region_adapter": "disk",
                  "model.language_model.embed_tokens": "cpu", "model.language_model.layers.0": "cpu",
                  "model.language_model.layers.1": "disk", "model.language_model.norm": "cpu",
                  "model.language_model.rotary_emb": "cpu", "model.seg_projector": "disk", "model.sam": "cpu",
                  "lm_head": "disk"}
    offloaded = MedPLIB.from_pretrained(tiny["ours"], device_map=device_map, offload_folder=str(tmp_path / "off"))
    assert "disk" in {str(v) for v in offloaded.model.hf_device_map.values()}
    seg = tiny["tokenizer"].convert_tokens_to_ids("<SEG>")
    ra, rb = grounded_answer(plain, seg), grounded_answer(offloaded, seg)
    assert ra.token_ids == rb.token_ids
    for ma, mb in zip(ra.masks, rb.masks):
        np.testing.assert_array_equal(ma, mb)
    enc = plain.encode(image())
    batch = plain.processor(enc.prepared, "What is this?")
    out_a = plain.model(input_ids=batch["input_ids"], image_features=enc.image_features).logits
    enc_b = offloaded.encode(image())
    out_b = offloaded.model(input_ids=batch["input_ids"], image_features=enc_b.image_features).logits
    torch.testing.assert_close(out_a, out_b.to(out_a.device), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_gpus", [2, 4])
def test_7b_device_map_splits_layers_and_keeps_blocks_whole(n_gpus):
    with torch.device("meta"):
        model = MedPLIBForCausalLM(MedPLIBConfig())
    # ~23.4 GB in bf16: budgets that force a split over every GPU.
    per_gpu = int(26e9 / n_gpus)
    budget = {i: per_gpu for i in range(n_gpus)} | {"cpu": int(100e9)}
    device_map = infer_auto_device_map(model, max_memory=budget, no_split_module_classes=model._no_split_modules,
                                       dtype=torch.bfloat16)
    layer_devices = {v for k, v in device_map.items() if k.startswith("model.language_model.layers.")}
    assert layer_devices >= set(range(n_gpus)), device_map
    no_split = {name for name, m in model.named_modules() if type(m).__name__ in model._no_split_modules}
    for key in device_map:
        assert not any(key.startswith(block + ".") for block in no_split), f"{key} splits a no-split block"


def test_released_sentencepiece_tokenizer_keeps_the_original_ids(tmp_path):
    import sentencepiece as spm

    from medplib.constants import ADDED_TOKENS
    from medplib.checkpoints.tokenizer import load_tokenizer

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(["A chat between a curious human and an assistant. What modality is this image?"] * 40))
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "tokenizer"), vocab_size=50,
                                   model_type="bpe", bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=3)
    folder = tmp_path / "released"
    folder.mkdir()
    (tmp_path / "tokenizer.model").rename(folder / "tokenizer.model")
    # transformers 4.31's slow-tokenizer save: added_tokens.json, no tokenizer.json
    (folder / "added_tokens.json").write_text(json.dumps({t: 50 + i for i, t in enumerate(ADDED_TOKENS)}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer", "legacy": True}))
    tok = load_tokenizer(folder)
    assert tok.convert_tokens_to_ids("<SEG>") == 50 and tok.convert_tokens_to_ids("<im_end>") == 50 + 266
    assert tok.pad_token_id == 0


# The released Huangxs/MedPLIB-7b-2e repo: every shard in both formats, only the .bin index.
RELEASED_7B_FILES = [
    ".gitattributes", "README.md", "added_tokens.json", "config.json", "generation_config.json",
    "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
    "pytorch_model-00001-of-00002.safetensors", "pytorch_model-00002-of-00002.safetensors",
    "pytorch_model.bin.index.json", "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json",
    "trainer_state.json", "training_args.bin",
]


def test_hub_patterns_fetch_one_weight_format_only():
    from fnmatch import fnmatch

    from medplib.checkpoints.loading import hub_patterns

    def fetched(files):
        return {f for f in files if any(fnmatch(f, p) for p in hub_patterns(files))}

    got = fetched(RELEASED_7B_FILES)
    assert not any(f.endswith(".bin") for f in got), got
    assert {"pytorch_model-00001-of-00002.safetensors", "pytorch_model-00002-of-00002.safetensors",
            "pytorch_model.bin.index.json", "config.json", "tokenizer.model", "added_tokens.json"} <= got
    bin_only = [f for f in RELEASED_7B_FILES if not f.endswith(".safetensors")]
    assert {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"} <= fetched(bin_only)


def test_resolve_passes_the_format_choice_to_the_download(monkeypatch):
    import huggingface_hub

    calls = {}

    def fake_download(name, revision=None, token=None, allow_patterns=None):
        calls["patterns"] = allow_patterns
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    with pytest.raises(CheckpointError, match="hf download"):
        resolve("Huangxs/MedPLIB-7b-2e", list_files=lambda *a, **k: RELEASED_7B_FILES)
    assert "*.safetensors" in calls["patterns"] and "*.bin" not in calls["patterns"]


def test_bin_index_with_safetensors_shards_never_opens_a_bin(tiny, tmp_path):
    """The released layout as shipped: .bin index, both shard formats, tokenizer already holding the tokens."""
    from safetensors.torch import save_file

    folder = copy_folder(tiny["released"], tmp_path / "r")
    for shard in sorted(folder.glob("pytorch_model-*.bin")):
        state = torch.load(shard, weights_only=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(shard.with_suffix(".safetensors")))
        shard.write_bytes(b"not a pickle: reading this file would fail")
    assert not (folder / "model.safetensors.index.json").exists()
    medplib = MedPLIB.from_pretrained(folder, vision_config=TINY_VISION, sam_config=TINY_SAM)
    reference = MedPLIB.from_pretrained(tiny["ours"])
    assert medplib.ask(image(), "What modality is this?", max_new_tokens=6).token_ids == \
        reference.ask(image(), "What modality is this?", max_new_tokens=6).token_ids
