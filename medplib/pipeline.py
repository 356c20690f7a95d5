"""`MedPLIB`: load any checkpoint, encode an image once, then answer many questions about it.

    from medplib import MedPLIB
    medplib = MedPLIB.from_pretrained()            # built-in tiny model; or "Huangxs/MedPLIB-7b-2e" / a folder
    answer = medplib.ask(image, "Segment the liver.")
    answer.text, answer.masks, answer.scores
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from PIL import Image
from transformers import LogitsProcessorList

from .checkpoints.loading import RELEASED, CheckpointError, convert_released, converted_cache_dir, detect_layout, resolve, validate_ours
from .familiarity import FamiliarityReference, load_for
from .generation import GroundedRequest, PrefixCache, generate_grounded_batch
from .io import load_image
from .model.modeling import MedPLIBForCausalLM
from .processing import MedPLIBProcessor, PreparedImage
from .errors import MedPLIBInputError
from .inputs import (GenerationSettings, check_history, check_image, check_logits_processor, check_session,
                     check_stop_event, check_text)
from .processing.region_types import Box, Mask, Point, Stroke, region_masks
from .processing.limits import check_request, context_length, fit_context
from .processing.tokens import decode_answer
from .serving.batcher import MicroBatcher
from .streaming import AnswerStreamer, Partial
from .checkpoints.tokenizer import load_tokenizer

BUILTIN = Path(__file__).resolve().parent / "assets" / "medplib-tiny"
ImageInput = Union[Image.Image, np.ndarray, str, os.PathLike, "EncodedImage"]
RegionInput = Union[Point, Box, Stroke, Mask, dict, np.ndarray]
HistoryTurn = tuple[str, Union["Answer", str]]
LLM_ONLY_QUANT_SKIP = ["router", "vision_tower", "sam", "lm_head", "mm_projector", "seg_projector", "region_adapter"]


@dataclass
class Answer:
    text: str  # for display: special tokens removed
    raw_text: str  # decoded with MedPLIB tokens kept (e.g. "Sure, it is <SEG>.")
    masks: list[np.ndarray]  # one bool [H, W] per <SEG>, at the original image size
    scores: list[float | None]  # the mask decoder's IoU prediction per mask; None where the config's mask_scores is off
    token_ids: list[int] = field(default_factory=list)


@dataclass
class EncodedImage:
    """An image prepared once: model inputs plus cached encoder outputs (CLIP now, SAM on first grounding)."""

    prepared: PreparedImage
    image_features: tuple[torch.Tensor, torch.Tensor]
    sam_embedding: torch.Tensor | None = None
    familiarity: float | None = None  # higher = closer to the training images (medplib.familiarity); None: no reference
    familiar: bool | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.prepared.original_hw

    def keep_sam_embedding(self, embedding: torch.Tensor) -> None:
        self.sam_embedding = embedding

    def to(self, device: torch.device | str) -> "EncodedImage":
        """A copy with the cached encoder outputs on `device` (e.g. "cpu" to keep it between GPU calls)."""
        features = tuple(t.to(device) for t in self.image_features)
        sam = None if self.sam_embedding is None else self.sam_embedding.to(device)
        return EncodedImage(self.prepared, features, sam, self.familiarity, self.familiar)


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
            question_normalization=cfg.question_normalization,
        )
        self._lock = threading.Lock()  # one generation (or batch) at a time per loaded model
        self.familiarity_reference: FamiliarityReference | None = None  # from_pretrained loads the folder's
        self.prefix_cache = PrefixCache()  # per-conversation KV caches (the `session=` keyword)
        self.batcher: MicroBatcher | None = None  # enable_batching()

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
        api = cls(model, tokenizer, name=str(name_or_path or "medplib-tiny (built-in)"), is_builtin=folder == BUILTIN)
        api.familiarity_reference = load_for(folder)
        return api

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
    def encode(self, image: ImageInput) -> EncodedImage:
        """Run the image side once (CLIP); reuse the result for every question about this image.
        `image`: a file path (str / os.PathLike; PNG / JPEG / TIFF / DICOM / NIfTI, read exactly like the
        app: `medplib.io.load_image(path).display_rgb`), a PIL image, a numpy array (any bit depth; HxW,
        HxWx1/2/3/4) or an `EncodedImage`."""
        if isinstance(image, EncodedImage):
            return image
        image = check_image(image)
        if isinstance(image, (str, os.PathLike)):
            image = load_image(image).display_rgb
        try:
            prepared = self.processor.prepare_image(image)
        except (ValueError, TypeError, OSError) as err:
            if isinstance(err, MedPLIBInputError):
                raise
            raise MedPLIBInputError(f"image: {err}") from None
        features = self.model.model.encode_image(prepared.pixel_values.to(self.device))
        ref = self.familiarity_reference
        if ref is None:
            return EncodedImage(prepared, features)
        score = float(ref.score(features[0])[0])
        return EncodedImage(prepared, features, familiarity=score, familiar=score >= ref.threshold)

    def _sam_embedding(self, encoded: EncodedImage) -> torch.Tensor:
        if encoded.sam_embedding is None:
            encoded.sam_embedding = self.model.model.encode_sam(encoded.prepared.sam_pixel_values.to(self.device))
        return encoded.sam_embedding

    @staticmethod
    def region_masks(regions: Sequence[RegionInput], hw: tuple[int, int]) -> list[np.ndarray]:
        """`regions` (`Point` / `Box` / `Stroke` / `Mask`, their dict forms or bare HxW masks) as bool HxW masks."""
        return region_masks(regions, hw)

    def _generation_inputs(self, image, question, regions, history, settings: GenerationSettings = GenerationSettings()
                           ) -> tuple[EncodedImage, dict, GenerationSettings]:
        question = check_text(question, "question")
        history = check_history(history)
        check_request(question, history)  # sizes, before any model work
        encoded = self.encode(image)
        masks = self.region_masks(regions, encoded.size)
        gen = {"max_new_tokens": settings.max_new_tokens}
        try:
            batch, _ = fit_context(lambda h: self.processor(encoded.prepared, question, masks, h), history, gen,
                                   context_length(self.model.config) or 1 << 30, self.model.config.num_image_tokens)
        except MedPLIBInputError:
            raise
        except ValueError as err:  # region references that do not match the regions given
            raise MedPLIBInputError(f"question: {err}") from None
        return encoded, batch, replace(settings, max_new_tokens=gen["max_new_tokens"])
        return encoded, batch

    def _generate(self, encoded: EncodedImage, batch: dict, settings: GenerationSettings, stop_event=None,
                  logits_processor=None, streamer=None, session: Hashable | None = None) -> Answer:
        gen = settings.generate_kwargs()
        max_new_tokens = gen.pop("max_new_tokens")
        if logits_processor is not None:
            gen["logits_processor"] = logits_processor if isinstance(logits_processor, LogitsProcessorList) \
                else LogitsProcessorList(list(logits_processor))
        # SAM runs only when the answer grounds something (with the batch's other such images); its embedding is
        # then cached with the image.
        request = GroundedRequest(
            batch["input_ids"].to(self.device), image_features=encoded.image_features,
            region_masks=[m.to(self.device) for m in batch["region_masks"]] or None,
            sam_pixel_values=encoded.prepared.sam_pixel_values, sam_image_embeddings=encoded.sam_embedding,
            on_sam_embedding=encoded.keep_sam_embedding, sam_resized_hw=encoded.prepared.sam_resized_hw,
            original_hw=encoded.size, streamer=streamer, stop_event=stop_event,
            max_new_tokens=max_new_tokens, session=session)
        out = self.batcher.run(request, **gen) if self.batcher is not None else self._run_alone(request, gen)
        ids = out.sequences[0].tolist()
        eos = self.tokenizer.eos_token_id
        raw_ids = ids[: ids.index(eos)] if eos in ids else ids
        return Answer(
            text=decode_answer(self.tokenizer, ids),
            raw_text=self.tokenizer.decode(raw_ids, skip_special_tokens=False),
            masks=[m.cpu().numpy() for m in out.masks],
            scores=[float(s) if self.model.config.mask_scores else None for s in out.scores],
            token_ids=raw_ids,
        )

    def _run_alone(self, request: GroundedRequest, gen: dict):
        with self._lock:
            return generate_grounded_batch(self.model, [request], self.prefix_cache, **gen)[0]

    def enable_batching(self, max_batch: int = 8, wait_ms: float = 10.0) -> None:
        """Generate requests that arrive within `wait_ms` of each other as one batch (up to `max_batch` rows);
        each row still reuses its conversation's KV cache. `max_batch=1` turns batching off."""
        if self.batcher is not None:
            self.batcher.close()
        self.batcher = MicroBatcher(self.model, max_batch, wait_ms / 1000, self.prefix_cache, self._lock) \
            if max_batch > 1 else None

    def ask(self, image: ImageInput, question: str, regions: Sequence[RegionInput] = (),
            history: Sequence[HistoryTurn] = (), *, max_new_tokens: int = 256, temperature: float = 0.0,
            top_p: float | None = None, repetition_penalty: float | None = None,
            max_time: float | None = None, stop_event: threading.Event | None = None,
            logits_processor: Sequence[Any] | None = None, session: Hashable | None = None) -> Answer:
        """Answer one question about `image` (PIL / numpy of any bit depth / an `EncodedImage` from `encode`).

        `regions`: `Point(x, y)`, `Box(x1, y1, x2, y2)`, `Stroke(mask)` (outline, filled), `Mask(mask)`, their
        dict forms or bare HxW masks (at most 8), referenced in the question as <region1>, <region2>, ... (or
        <region> when there is one; a question that references none is about all of them). `history`: earlier
        (question, answer) turns about the same image, the answer an `Answer` or its text. Greedy unless
        `temperature` > 0 (then `top_p` applies); `max_time` (seconds) or `stop_event` end it early; `session`
        (any hashable key of one conversation) keeps its KV cache so that its next turn only prefills the new
        tokens. Bad input raises `MedPLIBInputError` / `MedPLIBTypeError` naming the argument."""
        settings = GenerationSettings(max_new_tokens, temperature, top_p, repetition_penalty, max_time)
        stop_event, logits_processor = check_stop_event(stop_event), check_logits_processor(logits_processor)
        encoded, batch, settings = self._generation_inputs(image, question, regions, history, settings)
        return self._generate(encoded, batch, settings, stop_event, logits_processor, session=check_session(session))

    def stream(self, image: ImageInput, question: str, regions: Sequence[RegionInput] = (),
               history: Sequence[HistoryTurn] = (), *, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float | None = None, repetition_penalty: float | None = None,
               max_time: float | None = None, stop_event: threading.Event | None = None,
               logits_processor: Sequence[Any] | None = None,
               session: Hashable | None = None) -> Iterator[Partial | Answer]:
        """Like `ask`, but yields `Partial(text)` items as the answer grows (text cleaned exactly like
        `Answer.text`), then the final `Answer`. Arguments are checked before the first item. Closing the
        iterator early (a consumer that went away, e.g. a closed browser tab) stops the generation at the next
        token."""
        settings = GenerationSettings(max_new_tokens, temperature, top_p, repetition_penalty, max_time)
        stop = check_stop_event(stop_event) or threading.Event()
        logits_processor = check_logits_processor(logits_processor)
        session = check_session(session)
        encoded, batch, settings = self._generation_inputs(image, question, regions, history, settings)
        return self._stream(encoded, batch, settings, stop, logits_processor, session)

    def _stream(self, encoded, batch, settings, stop, logits_processor, session) -> Iterator[Partial | Answer]:
        streamer = AnswerStreamer(self.tokenizer, timeout=600)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["answer"] = self._generate(encoded, batch, settings, stop, logits_processor, streamer, session)
            except BaseException as err:  # surfaced in the consumer below
                result["error"] = err
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield from streamer
            thread.join()
        finally:
            if thread.is_alive():  # abandoned mid-answer: nobody will read the rest
                stop.set()
        if "error" in result:
            raise result["error"]
        yield result["answer"]
