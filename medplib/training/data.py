"""Turn MeCoVQA-style samples into model batches: per image its CLIP / SAM inputs, per conversation (one or more
turns about one image) prompt ids, labels, region grids and GT masks."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..constants import IGNORE_INDEX
from ..synthetic import Sample
from ..synthetic.wording import P_TEMPLATE, paraphrase
from ..processing import MedPLIBProcessor, build_labels, build_prompt, encode_prompt


@dataclass
class ImageInputs:
    """One image's model inputs, shared by every conversation about it."""

    pixel_values: torch.Tensor | None  # [3, C, C]; None once replaced by clip_features
    sam_pixel_values: torch.Tensor | None  # [3, S, S]; None once replaced by sam_embedding
    sam_resized_hw: tuple[int, int]
    clip_features: torch.Tensor | None = None  # [P, Dv] output of a frozen vision tower
    sam_embedding: torch.Tensor | None = None  # [C, g, g] output of a frozen SAM image encoder


@dataclass
class EncodedConversation:
    input_ids: torch.Tensor  # [T] compressed ids (-200 image, -300 regions)
    labels: torch.Tensor  # [T]; every answer is supervised
    region_masks: torch.Tensor | None  # [n, g, g] in prompt order
    seg_masks: torch.Tensor | None  # [n, H, W] float, one per <SEG>, in answer order
    kinds: tuple[str, ...]  # the kind of each turn
    image: ImageInputs


def image_key(sample: Sample) -> str:
    return sample.image_path or sample.id


def prepare_images(samples: list[Sample], processor: MedPLIBProcessor) -> dict[str, ImageInputs]:
    """CLIP / SAM inputs of every distinct image of `samples`, keyed by `image_key`."""
    images: dict[str, ImageInputs] = {}
    for sample in samples:
        key = image_key(sample)
        if key not in images:
            prepared = processor.prepare_image(sample.load_image())
            images[key] = ImageInputs(prepared.pixel_values[0], prepared.sam_pixel_values[0], prepared.sam_resized_hw)
    return images


def group_conversations(samples: list[Sample], kinds: tuple[str, ...], max_turns: int, seed: int) -> list[list[Sample]]:
    """The samples of the given kinds, grouped per image into conversations of at most `max_turns` turns.

    Turn order is shuffled (seeded) so that every kind also appears as the first turn, which is what a
    single-turn question looks like. max_turns=1 gives one single-turn conversation per sample."""
    if max_turns < 1:
        raise ValueError("max_turns must be >= 1")
    rng = random.Random(seed)
    per_image: dict[str, list[Sample]] = {}
    for sample in samples:
        if sample.kind in kinds:
            per_image.setdefault(image_key(sample), []).append(sample)
    out = []
    for turns in per_image.values():
        rng.shuffle(turns)
        out += [turns[i : i + max_turns] for i in range(0, len(turns), max_turns)]
    return out


def encode_conversation(turns: list[Sample], image: ImageInputs, processor: MedPLIBProcessor) -> EncodedConversation:
    """A (multi-turn) training conversation in the Vicuna-v1 template with the original label masking."""
    prompt = build_prompt([(processor.normalize(t.question), t.answer) for t in turns], processor.system)
    tok, strip = processor.tokenizer, processor.strip_whitespace
    ids = encode_prompt(tok, prompt, strip_whitespace=strip)
    labels = build_labels(prompt, tok, strip_whitespace=strip)
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError(f"sample {turns[0].id}: label masking failed (prompt/answer tokenisation mismatch)")
    region_masks = [m for t in turns for m in t.region_masks]
    seg_masks = [m for t in turns for m in t.seg_masks]
    regions = torch.stack([processor.region_grid(m) for m in region_masks]) if region_masks else None
    segs = torch.from_numpy(np.stack(seg_masks).astype(np.float32)) if seg_masks else None
    return EncodedConversation(torch.tensor(ids), torch.tensor(labels), regions, segs, tuple(t.kind for t in turns), image)


class FreshWording:
    """Encodes a conversation with its questions re-said in the rich wording (synthetic/wording.py), drawn anew on
    every call, so that each epoch trains other words for the same images, regions and answers."""

    def __init__(self, images: dict[str, ImageInputs], processor: MedPLIBProcessor, seed: int,
                 p_template: float = P_TEMPLATE):
        self.images, self.processor, self.p_template = images, processor, p_template
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18]))

    def __call__(self, turns: list[Sample]) -> EncodedConversation:
        reworded = [replace(t, question=paraphrase(t.question, self.rng, self.p_template)) for t in turns]
        return encode_conversation(reworded, self.images[image_key(turns[0])], self.processor)


@torch.no_grad()
def cache_tower_outputs(images: list[ImageInputs], model, batch_size: int = 64) -> None:
    """Run the (frozen) CLIP and SAM encoders once per image and keep their outputs in place of the pixels, so
    that training steps skip both encoders. Only valid while the encoders stay frozen."""
    todo = [im for im in images if im.clip_features is None]
    device = next(model.parameters()).device
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        clip = model.model.encode_image(torch.stack([im.pixel_values for im in chunk]).to(device))[0].cpu()
        sam = model.model.encode_sam(torch.stack([im.sam_pixel_values for im in chunk]).to(device)).cpu()
        for k, im in enumerate(chunk):
            im.clip_features, im.sam_embedding = clip[k], sam[k]
            im.pixel_values = im.sam_pixel_values = None


def collate(batch: list[EncodedConversation], pad_id: int = 0) -> dict:
    """Right-padded batch in the keyword form `MedPLIBForCausalLM.forward` takes."""
    length = max(len(s.input_ids) for s in batch)
    ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.bool)
    for i, s in enumerate(batch):
        n = len(s.input_ids)
        ids[i, :n], labels[i, :n], mask[i, :n] = s.input_ids, s.labels, True
    images = [s.image for s in batch]
    cached = all(im.clip_features is not None for im in images)
    out = {"input_ids": ids, "labels": labels, "attention_mask": mask, "region_masks": [s.region_masks for s in batch]}
    if cached:
        out["clip_features"] = torch.stack([im.clip_features for im in images])
    else:
        out["pixel_values"] = torch.stack([im.pixel_values for im in images])
    if any(s.seg_masks is not None for s in batch):
        out.update(seg_masks=[s.seg_masks for s in batch], sam_resized_hw=[im.sam_resized_hw for im in images])
        if cached:
            out["sam_image_embeddings"] = torch.stack([im.sam_embedding for im in images])
        else:
            out["sam_pixel_values"] = torch.stack([im.sam_pixel_values for im in images])
    return out
