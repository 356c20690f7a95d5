"""Find, validate and convert checkpoints: ours (config.json + safetensors) and the released layout.

Only safetensors or `torch.load(..., weights_only=True)` ever read weights: a pickle that carries anything but
tensors is refused before anything in it runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..model.configuration import MedPLIBConfig
from .conversion import config_from_original, convert_key
from .tokenizer import load_tokenizer

OURS, RELEASED = "medplib", "released"
INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_NAMES = ("model.safetensors", "pytorch_model.bin")
CLIP_336_ID = "openai/clip-vit-large-patch14-336"
# Everything but the weights: configs, the index, tokenizer files (SentencePiece model or tokenizer.json).
META_PATTERNS = ["*.json", "tokenizer.model", "*.txt"]


def cache_root() -> Path:
    return Path(os.environ.get("MEDPLIB_CACHE", Path.home() / ".cache" / "medplib"))


def hub_patterns(files: list[str]) -> list[str]:
    """`allow_patterns` that fetch one weight format only: safetensors when the repo has any (the released
    MedPLIB-7b-2e ships every shard as both `.bin` and `.safetensors`, ~24 GB each), else the `.bin` pickles."""
    has_safetensors = any(f.endswith(".safetensors") for f in files)
    return META_PATTERNS + (["*.safetensors"] if has_safetensors else ["*.bin"])


def resolve(name_or_path: str | os.PathLike, revision: str | None = None, token: str | None = None,
            list_files: Callable[..., list[str]] | None = None) -> Path:
    """A local folder, or a hub id downloaded with a progress bar (honours HF_HUB_OFFLINE). `list_files(repo,
    revision=, token=)` lists the repo's files (default: the hub API) to choose the weight format."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"{path} is a file; give the checkpoint folder (with config.json)")
        return path
    name = str(name_or_path)
    if name.count("/") != 1 or name.startswith((".", "/")):
        raise CheckpointError(f"{name!r} is neither an existing folder nor a Hugging Face hub id (owner/name)")
    from huggingface_hub import HfApi, snapshot_download

    try:
        files = (list_files or HfApi().list_repo_files)(name, revision=revision, token=token)
        return Path(snapshot_download(name, revision=revision, token=token, allow_patterns=hub_patterns(files)))
    except Exception as err:  # offline mode, no network, unknown repo, gated repo: all end the same way
        reason = type(err).__name__ + (": " + str(err).splitlines()[0] if str(err) else "")
        raise CheckpointError(
            f"could not get {name!r} from the Hugging Face hub ({reason}). On a machine with network run "
            f"`hf download {name} --local-dir SOME_FOLDER` and pass that folder instead"
            + (" (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else "")
            + "."
        ) from None


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None


def detect_layout(folder: Path) -> str:
    config = read_json(folder / "config.json")
    if "text_config" in config:
        return OURS
    if config.get("model_type") in ("medplib_moe_llama", "medplib") and "hidden_size" in config:
        return RELEASED
    raise CheckpointError(f"{folder}/config.json is not a MedPLIB config (model_type {config.get('model_type')!r})")


def weight_files(folder: Path) -> list[Path]:
    """Every shard named by the index (each must exist), or the single weights file; a `.bin` name is read
    from its `.safetensors` twin when that exists."""
    for index_name in INDEX_NAMES:
        index = folder / index_name
        if index.exists():
            shards = sorted(set(read_json(index).get("weight_map", {}).values()))
            if not shards:
                raise CheckpointError(f"{index} has no weight_map")
            paths = [_prefer_safetensors(folder / s) for s in shards]
            missing = [s for s, p in zip(shards, paths) if not p.exists()]
            if missing:
                raise CheckpointError(f"{folder} is missing shard(s) {missing} listed in {index_name}")
            return paths
    for name in SINGLE_NAMES:
        if _prefer_safetensors(folder / name).exists():
            return [_prefer_safetensors(folder / name)]
    raise CheckpointError(f"no weights in {folder} (expected {' or '.join(INDEX_NAMES + SINGLE_NAMES)})")


def _prefer_safetensors(path: Path) -> Path:
    """A `.bin` shard's same-named `.safetensors` twin when present (a `.bin` index then names safetensors
    files too: no pickle is opened)."""
    twin = path.with_suffix(".safetensors")
    return twin if path.suffix == ".bin" and twin.exists() else path


def load_pickled_tensors(path: Path) -> dict[str, torch.Tensor]:
    """`.bin` / `.pth` with `weights_only=True`: tensors and plain containers only, nothing executed."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"refused to load {path.name}: it contains objects other than tensors "
            f"({str(err).splitlines()[0][:200]}); only plain weight files are accepted"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path.name} is corrupted or truncated ({str(err).splitlines()[0][:200]})") from None
    if isinstance(data, dict) and "model" in data and isinstance(data["model"], dict):
        data = data["model"]  # SAM-Med2D .pth files wrap the state dict
    if not isinstance(data, dict) or not all(torch.is_tensor(v) for v in data.values()):
        raise CheckpointError(f"{path.name} is not a state dict of tensors")
    return data


def iter_tensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                for key in f.keys():
                    yield key, f.get_tensor(key)
        except CheckpointError:
            raise
        except Exception as err:
            raise CheckpointError(f"{path.name} is corrupted or truncated ({str(err)[:200]})") from None
    else:
        yield from load_pickled_tensors(path).items()


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Shapes without reading the data (safetensors header), else from the loaded tensors."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        except Exception as err:
            raise CheckpointError(f"{path.name} is corrupted or truncated ({str(err)[:200]})") from None
    return {k: tuple(v.shape) for k, v in load_pickled_tensors(path).items()}


def expected_shapes(config: MedPLIBConfig) -> dict[str, tuple[int, ...]]:
    from ..model.modeling import MedPLIBForCausalLM

    with torch.device("meta"):
        model = MedPLIBForCausalLM(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_shapes(found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]], where: str) -> None:
    bad = [f"{k}: {list(v)} (expected {list(expected[k])})" for k, v in found.items() if k in expected and expected[k] != v]
    if bad:
        raise CheckpointError(f"{where}: tensor(s) with the wrong shape: " + "; ".join(bad[:5]))
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        raise CheckpointError(f"{where}: unexpected tensor(s) {unexpected[:5]}")


def validate_ours(folder: Path) -> MedPLIBConfig:
    """Config parses, every shard is present and readable, and every tensor has the shape the config implies."""
    try:
        config = MedPLIBConfig.from_pretrained(str(folder))
    except CheckpointError:
        raise
    except (ValueError, TypeError, OSError) as err:
        raise CheckpointError(f"{folder}/config.json: {err}") from None
    expected = expected_shapes(config)
    found: dict[str, tuple[int, ...]] = {}
    for shard in weight_files(folder):
        found.update(tensor_shapes(shard))
    check_shapes(found, expected, str(folder))
    missing = sorted(set(expected) - set(found))
    if missing:
        raise CheckpointError(f"{folder}: missing tensor(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return config


def converted_cache_dir(src: Path) -> Path:
    """Where an on-the-fly conversion of a released folder is kept (keyed by path and weight-file stamps)."""
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in weight_files(src))
    digest = hashlib.sha256(f"{src.resolve()}|{stamp}".encode()).hexdigest()[:16]
    return cache_root() / "converted" / f"{src.name}-{digest}"


def convert_released(
    src: Path,
    dst: Path,
    vision_tower: str | None = None,
    sam_checkpoint: str | None = None,
    vision_config: dict | None = None,
    sam_config: dict | None = None,
    shard_bytes: int = 2 << 30,
) -> Path:
    """Write a released-layout folder as our format (safetensors shards, config.json, tokenizer), shard by
    shard. CLIP comes from the checkpoint or from `vision_tower` (default the public CLIP-336); SAM from the
    checkpoint or from a SAM-Med2D `.pth`."""
    from safetensors.torch import save_file

    original = read_json(src / "config.json")
    tokenizer = load_tokenizer(src)
    seg_id = tokenizer.convert_tokens_to_ids("<SEG>")
    if seg_id is None or seg_id == tokenizer.unk_token_id:
        raise CheckpointError(f"the tokenizer in {src} has no <SEG> token")
    config = config_from_original(original, vision_config, sam_config, seg_token_id=seg_id)
    expected = expected_shapes(config)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weight_map: dict[str, str] = {}
    buffer: dict[str, torch.Tensor] = {}
    size = 0

    def flush() -> None:
        nonlocal buffer, size
        if buffer:
            name = f"model-{len(set(weight_map.values())) + 1:05d}.safetensors"
            save_file(buffer, str(tmp / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in buffer})
            buffer, size = {}, 0

    def add(key: str, tensor: torch.Tensor, where: str) -> None:
        nonlocal size
        check_shapes({key: tuple(tensor.shape)}, expected, where)
        buffer[key] = tensor.contiguous().clone()
        size += tensor.numel() * tensor.element_size()
        if size >= shard_bytes:
            flush()

    for shard in weight_files(src):
        for key, tensor in iter_tensors(shard):
            try:
                new = convert_key(key)
            except ValueError as err:
                raise CheckpointError(f"{shard.name}: {err}") from None
            if new is not None:
                add(new, tensor, shard.name)
    missing = set(expected) - set(weight_map) - set(buffer)
    if any(k.startswith("model.vision_tower.") for k in missing):
        for key, tensor in _clip_tensors(vision_tower or CLIP_336_ID):
            if f"model.vision_tower.{key}" in missing:
                add(f"model.vision_tower.{key}", tensor, f"vision tower {vision_tower or CLIP_336_ID}")
    if any(k.startswith("model.sam.") for k in missing):
        if sam_checkpoint is None:
            raise CheckpointError(f"{src} has no SAM-Med2D weights: pass the sam-med2d_b.pth file (sam_checkpoint=...)")
        for key, tensor in load_pickled_tensors(Path(sam_checkpoint)).items():
            add("model.sam." + key.removeprefix("model.visual_model."), tensor, Path(sam_checkpoint).name)
    flush()
    missing = sorted(set(expected) - set(weight_map))
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"{src}: missing tensor(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    (tmp / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=1))
    config.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / "CONVERTED_FROM.txt").write_text(f"converted from the released layout at {src}\n")
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return dst


def _clip_tensors(name_or_path: str) -> Iterator[tuple[str, torch.Tensor]]:
    folder = resolve(name_or_path)
    files = [p for p in weight_files(folder)]
    for shard in files:
        for key, tensor in iter_tensors(shard):
            # Hub CLIP files hold the full CLIPModel (text + vision) or CLIPVisionModel weights.
            if key.startswith("vision_model."):
                yield key.removeprefix("vision_model."), tensor
