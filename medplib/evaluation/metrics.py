"""Metrics of the original evaluation (architecture.md §10), with its quirks named where we keep or fix them."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_CONTRACTIONS = {"dont": "don't", "doesnt": "doesn't", "isnt": "isn't", "arent": "aren't", "cant": "can't",
                 "wont": "won't", "its": "it's"}
_PUNCT = re.compile(r"[;/\[\]\"{}()=+\\_\-><@`?!*#%^&$.:,]")


def normalize_word(text: str) -> str:
    """VQA-style normalisation: lower case, punctuation and commas out, number words to digits, articles out."""
    text = _PUNCT.sub(" ", text.lower().replace("\n", " "))
    words = []
    for word in text.split():
        word = _NUMBERS.get(word, word)
        if word in _ARTICLES:
            continue
        words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def closed_correct(prediction: str, answer: str) -> bool:
    """Exact equality after normalisation (so "Yes, it is." != "yes", as in the original)."""
    return normalize_word(prediction) == normalize_word(answer)


def open_scores(prediction: str, answer: str) -> dict[str, float]:
    """Bag-of-words precision / recall / F1, the original's 'exact match' score (distinct GT words found in the
    prediction / prediction length; precision-like despite its name) and sentence BLEU-1 and BLEU-4."""
    pred, gold = normalize_word(prediction).split(), normalize_word(answer).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    precision = common / len(pred) if pred else 0.0
    recall = common / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = len(set(gold) & set(pred)) / len(pred) if pred else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "exact_match_score": exact,
            "bleu1": sentence_bleu(pred, gold, 1), "bleu4": sentence_bleu(pred, gold, 4)}


def sentence_bleu(pred: list[str], gold: list[str], max_n: int = 4) -> float:
    """Unsmoothed sentence BLEU with uniform weights (NLTK's default behaviour: 0 if an n-gram order has no match)."""
    if not pred:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        p = Counter(tuple(pred[i : i + n]) for i in range(len(pred) - n + 1))
        g = Counter(tuple(gold[i : i + n]) for i in range(len(gold) - n + 1))
        total = sum(p.values())
        match = sum((p & g).values())
        if total == 0 or match == 0:
            return 0.0
        logs.append(math.log(match / total))
    brevity = 1.0 if len(pred) > len(gold) else math.exp(1 - len(gold) / len(pred))
    return brevity * math.exp(sum(logs) / max_n)


def mask_iou(pred: np.ndarray | None, gold: np.ndarray) -> float:
    """IoU of two boolean masks; 0 when no mask was predicted and (original quirk, kept) when the union is empty."""
    if pred is None:
        return 0.0
    pred, gold = np.asarray(pred, bool), np.asarray(gold, bool)
    union = np.logical_or(pred, gold).sum()
    return float(np.logical_and(pred, gold).sum() / union) if union else 0.0


def dice_from_iou(iou: float) -> float:
    return 2 * iou / (1 + iou)


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy of `correct` out of `n` (0..1 for n = 0). Reported beside every
    accuracy: at ~100 questions a score is only good to about ±0.04, too coarse to read a 0.95 target from."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = correct / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values, z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation 95 % interval of the mean of `values` (e.g. per-sample Dice); (0, 1) when fewer than 2."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return 0.0, 1.0
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = z * sd / math.sqrt(len(values))
    return max(0.0, mean - half), min(1.0, mean + half)
