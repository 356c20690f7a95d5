"""`MedPLIB`: load any checkpoint, encode an image once, then answer many questions about it.

    from medplib import MedPLIB
    medplib = MedPLIB.from_pretrained()            # built-in tiny model; or "Huangxs/MedPLIB-7b-2e" / a folder
    answer = medplib.ask(image, "Segment the liver.")
    answer.text, answer.masks, answer.scores
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from .checkpoints.loading import RELEASED, CheckpointError, convert_released, converted_cache_dir, detect_layout, resolve, validate_ours
from .model.modeling import MedPLIBForCausalLM
from .processing import MedPLIBProcessor, PreparedImage
from .processing.regions import box_region, freeform_region, point_region
from .processing.tokens import decode_answer
from .checkpoints.tokenizer import load_tokenizer

BUILTIN = Path(__file__).resolve().parent / "assets" / "medplib-tiny"
LLM_ONLY_QUANT_SKIP = ["router", "vision_tower", "sam", "lm_head", "mm_projector", "seg_projector", "region_adapter"]


@dataclass
class Answer:
    text: str  # for display: special tokens removed
    raw_text: str  # decoded with MedPLIB tokens kept (e.g. "Sure, it is <SEG>.")
    masks: list[np.ndarray]  # one bool [H, W] per <SEG>, at the original image size
    scores: list[float]  # the mask decoder's IoU prediction per mask
    token_ids: list[int] = field(default_factory=list)


@dataclass
class EncodedImage:
    """An image prepared once: model inputs plus cached encoder outputs (CLIP now, SAM on first grounding)."""

    prepared: PreparedImage
    image_features: tuple[torch.Tensor, torch.Tensor]
    sam_embedding: torch.Tensor | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.prepared.original_hw

    def to(self, device: torch.device | str) -> "EncodedImage":
        """A copy with the cached encoder outputs on `device` (e.g. "cpu" to keep it between GPU calls)."""
        features = tuple(t.to(device) for t in self.image_features)
        sam = None if self.sam_embedding is None else self.sam_embedding.to(device)
        return EncodedImage(self.prepared, features, sam)


class StopOnEvent(StoppingCriteria):
    """Ends generation as soon as `event` is set (a closed tab, a Stop button)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
                "fp32": torch.float32, "float32": torch.float32}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r} (use auto, bf16, fp16 or fp32)") from None


def quantization_config(bits: int | None):
    """bitsandbytes 4/8-bit for the LLM only (towers, heads and the fp32 router stay unquantised)."""
    if bits is None:
        return None
    if bits not in (4, 8):
        raise ValueError(f"quantization must be 4 or 8 bits, got {bits}")
    if not torch.cuda.is_available():
        raise ValueError(f"{bits}-bit loading needs a CUDA GPU (bitsandbytes); none here. Load in bf16/fp32, "
                         "or use device_map with max_memory / CPU and disk offload instead")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ValueError(f"{bits}-bit loading needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    if bits == 4:
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16,
                                  bnb_4bit_quant_type="nf4", llm_int8_skip_modules=LLM_ONLY_QUANT_SKIP)
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=LLM_ONLY_QUANT_SKIP)


def prepare_folder(name_or_path: str | os.PathLike | None, vision_tower: str | None = None,
                   sam_checkpoint: str | None = None, revision: str | None = None, token: str | None = None,
                   vision_config: dict | None = None, sam_config: dict | None = None) -> Path:
    """A folder in our format: the built-in model, a folder / hub id in our format, or a released checkpoint
    converted once into the cache."""
    if name_or_path is None:
        if not (BUILTIN / "config.json").exists():
            raise CheckpointError(f"the built-in model is missing from {BUILTIN}; reinstall or pass a checkpoint")
        return BUILTIN
    folder = resolve(name_or_path, revision=revision, token=token)
    if detect_layout(folder) == RELEASED:
        dst = converted_cache_dir(folder)
        if not (dst / "config.json").exists():
            convert_released(folder, dst, vision_tower, sam_checkpoint, vision_config, sam_config)
        folder = dst
    return folder


class MedPLIB:
    """The public inference API (what the demo and the evaluation use)."""

    def __init__(self, model: MedPLIBForCausalLM, tokenizer, name: str = "custom", is_builtin: bool = False):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.is_builtin = is_builtin  # the synthetic-data demo model shipped in the package
        cfg = model.config
        self.processor = MedPLIBProcessor(
            tokenizer,
            clip_image_size=cfg.vision_config.image_size,
            patch_size=cfg.vision_config.patch_size,
            sam_image_size=cfg.sam.image_size,
            sam_mean=cfg.sam.pixel_mean,
            sam_std=cfg.sam.pixel_std,
            region_grid_mode=cfg.region_grid,
        )
        self._lock = threading.Lock()  # one generation at a time per loaded model

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device_map: str | dict | None = "auto",
        dtype: str | torch.dtype = "auto",
        max_memory: dict | None = None,
        offload_folder: str | None = None,
        quantization: int | None = None,
        vision_tower: str | None = None,
        sam_checkpoint: str | None = None,
        revision: str | None = None,
        token: str | None = None,
        vision_config: dict | None = None,
        sam_config: dict | None = None,
    ) -> "MedPLIB":
        """Load ours (`save_pretrained` output), a released-layout folder / hub id (converted once, cached), or
        the built-in tiny model (`None`). `device_map="auto"` spreads the model over the GPUs (then CPU, then
        `offload_folder` on disk) within `max_memory`; on a machine without GPU it simply loads on CPU.
        `vision_config` / `sam_config` give the tower sizes of a released-layout checkpoint that is not 7B-sized
        (the original config does not record them)."""
        folder = prepare_folder(name_or_path, vision_tower, sam_checkpoint, revision, token, vision_config, sam_config)
        validate_ours(folder)
        tokenizer = load_tokenizer(folder)
        kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype)}
        quant = quantization_config(quantization)
        if quant is not None:
            kwargs["quantization_config"] = quant
        plain_cpu = device_map == "auto" and not torch.cuda.is_available() and not offload_folder and not max_memory
        if device_map is not None and not plain_cpu:
            kwargs.update(device_map=device_map, max_memory=max_memory, offload_folder=offload_folder)
        try:
            model = MedPLIBForCausalLM.from_pretrained(str(folder), **kwargs)
        except (OSError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"could not load {folder}: {str(err).splitlines()[0][:300]}") from None
        return cls(model, tokenizer, name=str(name_or_path or "medplib-tiny (built-in)"), is_builtin=folder == BUILTIN)

    # ---- description ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.model.language_model.embed_tokens.weight.device

    def devices(self) -> list[str]:
        """Where the weights live (e.g. ['cuda:0', 'cuda:1'] or ['cpu'])."""
        placement = getattr(self.model, "hf_device_map", None)
        if placement:
            return sorted({str(v) for v in placement.values()})
        return sorted({str(p.device) for p in self.model.parameters()})

    # ---- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, image) -> EncodedImage:
        """Run the image side once (CLIP); reuse the result for every question about this image."""
        if isinstance(image, EncodedImage):
            return image
        prepared = self.processor.prepare_image(image)
        features = self.model.model.encode_image(prepared.pixel_values.to(self.device))
        return EncodedImage(prepared, features)

    def _sam_embedding(self, encoded: EncodedImage) -> torch.Tensor:
        if encoded.sam_embedding is None:
            encoded.sam_embedding = self.model.model.encode_sam(encoded.prepared.sam_pixel_values.to(self.device))
        return encoded.sam_embedding

    def region_masks(self, regions: Sequence[Any], hw: tuple[int, int]) -> list[np.ndarray]:
        """Regions as HxW masks, or dicts {"point": (x, y)} / {"box": (x1, y1, x2, y2)} / {"mask": HxW}
        / {"stroke": HxW} (free-form outline, filled)."""
        out = []
        for k, region in enumerate(regions):
            if isinstance(region, dict):
                if "point" in region:
                    out.append(point_region(*hw, *region["point"]))
                elif "box" in region:
                    out.append(box_region(*hw, *region["box"]))
                elif "stroke" in region:
                    out.append(freeform_region(region["stroke"]))
                elif "mask" in region:
                    out.append(np.asarray(region["mask"]) > 0)
                else:
                    raise ValueError(f"region {k + 1}: expected a point, box, stroke or mask, got keys {sorted(region)}")
            else:
                out.append(np.asarray(region) > 0)
        return out

    def _generation_inputs(self, image, question: str, regions, history) -> tuple[EncodedImage, dict]:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("the question is empty")
        encoded = self.encode(image)
        batch = self.processor(encoded.prepared, question, self.region_masks(regions, encoded.size), history)
        return encoded, batch

    def _generate(self, encoded: EncodedImage, batch: dict, streamer=None, stop_event: threading.Event | None = None,
                  **gen) -> Answer:
        gen.setdefault("max_new_tokens", 256)
        if stop_event is not None:
            gen["stopping_criteria"] = StoppingCriteriaList([*gen.get("stopping_criteria", []), StopOnEvent(stop_event)])
        temperature = gen.pop("temperature", 0.0) or 0.0
        if temperature > 0:
            gen.update(do_sample=True, temperature=temperature)
        else:
            gen.update(do_sample=False)
            gen.pop("top_p", None)
        # SAM runs only when the answer grounds something; its embedding is then cached with the image.
        with self._lock:
            out = self.model.generate_grounded(
                batch["input_ids"].to(self.device),
                image_features=encoded.image_features,
                region_masks=[m.to(self.device) for m in batch["region_masks"]] or None,
                sam_image_embeddings=lambda: self._sam_embedding(encoded),
                sam_resized_hw=encoded.prepared.sam_resized_hw,
                original_hw=encoded.size,
                streamer=streamer,
                **gen,
            )
        ids = out.sequences[0].tolist()
        eos = self.tokenizer.eos_token_id
        raw_ids = ids[: ids.index(eos)] if eos in ids else ids
        return Answer(
            text=decode_answer(self.tokenizer, ids),
            raw_text=self.tokenizer.decode(raw_ids, skip_special_tokens=False),
            masks=[m.cpu().numpy() for m in out.masks],
            scores=[float(s) for s in out.scores],
            token_ids=raw_ids,
        )

    def ask(self, image, question: str, regions: Sequence[Any] = (), history: Sequence[tuple[str, str]] = (),
            **generate_kwargs) -> Answer:
        """Answer one question. `image`: PIL / numpy (any bit depth) or an `EncodedImage` from `encode`;
        `regions`: see `region_masks`, referenced in the question as <region1>, <region2>, ... (or <region>);
        `history`: earlier (question, answer) turns about the same image. Greedy unless `temperature` > 0;
        `stop_event` (a threading.Event) ends the generation early when set."""
        encoded, batch = self._generation_inputs(image, question, regions, history)
        return self._generate(encoded, batch, **generate_kwargs)

    def stream(self, image, question: str, regions: Sequence[Any] = (), history: Sequence[tuple[str, str]] = (),
               **generate_kwargs) -> Iterator[str | Answer]:
        """Like `ask`, but yields the answer text as it grows, then the final `Answer`. Closing the iterator
        early (a consumer that went away, e.g. a closed browser tab) stops the generation at the next token."""
        from transformers import TextIteratorStreamer

        encoded, batch = self._generation_inputs(image, question, regions, history)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        stop = generate_kwargs.pop("stop_event", None) or threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["answer"] = self._generate(encoded, batch, streamer=streamer, stop_event=stop, **generate_kwargs)
            except BaseException as err:  # surfaced in the consumer below
                result["error"] = err
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            text = ""
            for chunk in streamer:
                text += chunk
                yield text
            thread.join()
        finally:
            if thread.is_alive():  # abandoned mid-answer: nobody will read the rest
                stop.set()
        if "error" in result:
            raise result["error"]
        yield result["answer"]
