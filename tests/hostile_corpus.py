"""A hostile corpus made at test time: broken, mislabelled and odd files, and odd values for every
argument of `/ask` and of the Python API (JSON types, numbers, unicode, huge values, wrong shapes).

Each case is data only; tests/test_reliability.py and tests/test_hostile_audit.py say what must happen
(an answer or one clear sentence, never a crash)."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
from PIL import Image


def _png(arr: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def _saved(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_header(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * (w + 1) * 4)) + chunk(b"IEND", b""))


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=9)


def hostile_files() -> dict[str, tuple[str, bytes]]:
    """The first 13: corrupt, mislabelled, oversized or bomb files (each must get a clear message)."""
    rng = np.random.default_rng(1)
    good = _png(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    jpeg = _saved(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), "JPEG")
    return {
        "zero bytes": ("empty.png", b""),
        "text as png": ("notes.png", b"hello, this is not an image\n" * 10),
        "truncated png": ("cut.png", good[: len(good) // 2]),
        "noise after signature": ("noise.png", b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 255, 900, np.uint8))),
        "huge dimensions": ("huge.png", _png_header(70000, 70000)),
        "one pixel tall": ("thin.png", _png(np.zeros((1, 4000), np.uint8))),
        "png named dcm": ("scan.dcm", good),
        "jpeg named nii": ("vol.nii", jpeg),
        "garbage nii.gz": ("vol.nii.gz", zlib.compress(b"\0" * 4000)),
        "gzip bomb": ("bomb.nii.gz", _gzip(b"\0" * (64 << 20))),
        "dicom preamble only": ("x.dcm", b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x001.2\0"),
        "json as image": ("regions.json", b'[{"point": [1, 2]}]'),
        "html as image": ("page.png", b"<html><script>alert(1)</script></html>"),
    }


def more_files() -> dict[str, tuple[str, bytes]]:
    """Odd but often valid files (an answer or a clear message), and more broken ones."""
    rng = np.random.default_rng(2)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (0, 128, 255)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    tiff = io.BytesIO()
    frames[0].save(tiff, format="TIFF", save_all=True, append_images=frames[1:])
    return {
        "1x1 png": ("dot.png", _png(np.zeros((1, 1, 3), np.uint8))),
        "16-bit all zero": ("zero16.png", _png(np.zeros((32, 32), np.uint16))),
        "16-bit full range": ("ramp16.png", _png(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)),
        "float tiff with NaN": ("nan.tif", _saved(Image.fromarray(np.full((16, 16), np.nan, np.float32)), "TIFF")),
        "float tiff inf": ("inf.tif", _saved(Image.fromarray(np.full((16, 16), np.inf, np.float32)), "TIFF")),
        "palette with transparency": ("pal.png", _saved(rgb.convert("P"), "PNG", transparency=0)),
        "RGBA fully transparent": ("clear.png", _png(np.zeros((24, 24, 4), np.uint8))),
        "CMYK jpeg": ("cmyk.jpg", _saved(rgb.convert("CMYK"), "JPEG")),
        "animated gif": ("anim.gif", gif.getvalue()),
        "multi-page tiff": ("pages.tif", tiff.getvalue()),
        "bmp": ("old.bmp", _saved(rgb, "BMP")),
        "webp": ("web.webp", _saved(rgb, "WEBP")),
        "svg": ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
        "exe named png": ("setup.png", b"MZ\x90\x00" + bytes(600)),
        "zip named nii": ("vol.nii", b"PK\x03\x04" + bytes(300)),
        "huge text chunk": ("chatty.png", _png(np.zeros((8, 8), np.uint8), pnginfo=_text_chunk(1 << 20))),
        "tall strip": ("strip.png", _png(np.zeros((6000, 2), np.uint8))),
        "no extension": ("scan", _png(np.zeros((16, 16), np.uint8))),
        "unicode name": ("Ünïcødé 🩻 名前.png", _png(np.zeros((16, 16), np.uint8))),
        "dot dot name": ("..png", _png(np.zeros((16, 16), np.uint8))),
        "truncated jpeg": ("cut.jpg", _saved(rgb, "JPEG")[:200]),
        "gzip of text named nii.gz": ("t.nii.gz", _gzip(b"hello" * 100)),
    }


def _text_chunk(n: int):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "x" * n)
    return info


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def odd_values() -> dict[str, object]:
    """Values of every JSON type and shape, for any argument."""
    return {
        "null": None, "true": True, "false": False, "zero": 0, "minus one": -1, "int64 max": 2 ** 63 - 1,
        "2**64": 2 ** 64, "10**30": 10 ** 30, "float max": 1.7e308, "denormal": 5e-324, "half": 0.5,
        "minus 2.5": -2.5, "empty text": "", "space": " ", "NUL": "\x00", "text": "abc", "digit text": "8",
        "json list text": "[]", "json object text": "{}", "json null text": "null", "empty list": [],
        "empty object": {}, "list of list": [[]], "list of null": [None], "list of object": [{}],
        "object": {"a": 1}, "emoji": "🩻" * 50, "RTL override": "\u202eevil", "zero width": "\u200b\u200b",
        "combining marks": "e\u0301" * 100, "100k text": "A" * 100_000, "5000 numbers": list(range(5000)),
        "nested 200": _nested(200), "file object": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
    }


ARGUMENTS = ("image", "question", "regions", "region_masks", "history", "max_new_tokens", "temperature")


def special_values() -> dict[str, dict[str, object]]:
    """Values aimed at one argument each."""
    q = "What is in <region1>?"
    return {
        "question": {
            "image token": "<image>", "seg token": "<SEG>", "region 99": "<region99>?", "region 0": "<region0>?",
            "end token": "</s>", "unknown token": "<unk>", "start token": "<s> hi", "newlines": "\n" * 1000,
            "format string": "%s %n {0} {{}}", "sql": "' OR 1=1 --", "script": "<script>alert(1)</script>",
            "path": "../../etc/passwd", "2001 chars": "a" * 2001, "2000 chars": "a " * 1000,
            "tabs and CR": "\t\r\n\x0b\x0c?", "control chars": "".join(chr(i) for i in range(1, 32)),
        },
        "regions": {
            "point 1e308": [{"point": [1e308, 1]}], "negative point": [{"point": [-1, -1]}],
            "zero box": [{"box": [0, 0, 0, 0]}], "3-number point": [{"point": [1, 2, 3]}],
            "upper-case key": [{"POINT": [1, 2]}], "point as object": [{"point": {"x": 1, "y": 2}}],
            "mask as json": [{"mask": [[1]]}], "stroke as json": [{"stroke": [[0, 1]]}],
            "nine points": [{"point": [5, 5]}] * 9, "box with text": [{"box": [1, 2, 3, "4"]}],
            "bool point": [{"point": [True, False]}], "bare list": [[1, 2]], "text form": '[{"point": [3, 4]}]',
            "point of null": [{"point": [None, None]}], "huge list": [{"point": [1, 1]}] * 10000,
        },
        "history": {
            "60 turns": [["q", "a"]] * 60, "30000-char question": [["q" * 30000, "a"]],
            "nulls": [[None, None]], "image token": [["<image>", "x"]], "many SEG": [["q", "<SEG>" * 100]],
            "object turn": [{"question": "q"}], "text form": '[["What is it?", "A CT."]]',
            "three items": [["q", "a", "c"]], "numbers": [[1, 2]], "nested": [[["q"], ["a"]]],
        },
        "max_new_tokens": {"1024": 1024, "1025": 1025, "1e3 text": "1e3", "hex text": "0x10", "1.0": 1.0,
                           "8.0 text": "8.0", "minus zero": -0.0, "nan text": "nan", "inf text": "inf"},
        "temperature": {"2": 2.0, "2.0001": 2.0001, "nan text": "nan", "inf text": "inf", "1e-9": 1e-9,
                        "minus zero": -0.0},
        "region_masks": {"text path": ["/etc/passwd"], "null entries": [None, None], "object no path": [{"a": 1}],
                         "not a list": "mask.png", "question": [q]},
    }


def argument_cases(base: list) -> dict[str, list]:
    """(argument: case) -> `/ask` data: ``base`` (valid arguments) with one argument replaced."""
    cases = {}
    values = odd_values()
    special = special_values()
    for index, name in enumerate(ARGUMENTS):
        for what, value in {**values, **special.get(name, {})}.items():
            data = list(base)
            data[index] = value
            cases[f"{name}: {what}"] = data
    return cases


def raw_bodies(base: list) -> dict[str, str | bytes]:
    """Request bodies JSON cannot express or that are not what the endpoint takes."""
    good = json.dumps({"data": base})
    first_list = json.dumps(base[2])  # the regions argument
    out: dict[str, str | bytes] = {}
    for token in ("NaN", "Infinity", "-Infinity", "1e400", "1" * 5000):
        out[f"point {token[:10]}"] = good.replace(first_list, f'[{{"point": [{token}, 2]}}]', 1)
        out[f"max_new_tokens {token[:10]}"] = json.dumps({"data": base[:5] + ["@"] + base[6:]}).replace('"@"', token)
        out[f"temperature {token[:10]}"] = json.dumps({"data": base[:6] + ["@"]}).replace('"@"', token)
    out.update({
        "lone surrogate in question": json.dumps({"data": base[:1] + ["@"] + base[2:]}).replace('"@"', '"\\ud800 x"'),
        "lone surrogate in history": json.dumps({"data": base[:4] + ["@"] + base[5:]}).replace('"@"', '[["\\udfff", "a"]]'),
        "nesting 100000": '{"data": ' + "[" * 100000 + "]" * 100000 + "}",
        "not json": "{data: nope", "a list": "[]", "null": "null", "a string": '"data"', "no data": "{}",
        "data a string": '{"data": "x"}', "too few": json.dumps({"data": base[:2]}),
        "too many": json.dumps({"data": base + base}), "empty": "", "binary": b"\xff\xfe\x00\x01" * 64,
        "gzip bytes": _gzip(good.encode()), "session 123": json.dumps({"data": base, "session_hash": 123}),
        "session huge": json.dumps({"data": base, "session_hash": "s" * 100_000}),
        "duplicate keys": good[:-1] + ', "data": []}', "fn_index 99": json.dumps({"data": base, "fn_index": 99}),
        "event_data text": json.dumps({"data": base, "event_data": "x"}),
        "5 MB string": json.dumps({"data": base[:1] + ["q" * (5 << 20)] + base[2:]}),
    })
    return out


def python_cases() -> dict[str, dict]:
    """Keyword arguments for `MedPLIB.ask` (image / question / regions / history / settings), one odd each."""
    values = odd_values()
    special = special_values()
    cases: dict[str, dict] = {}
    for name in ("question", "regions", "history", "max_new_tokens", "temperature", "top_p",
                 "repetition_penalty", "max_time"):
        for what, value in {**values, **special.get(name, {})}.items():
            cases[f"{name}: {what}"] = {name: value}
    arrays = {"nan array": np.full((8, 8), np.nan), "complex array": np.zeros((8, 8), complex),
              "empty array": np.zeros((0, 0)), "4-d array": np.zeros((2, 2, 2, 2)), "bool array": np.ones((8, 8), bool),
              "5 channels": np.zeros((8, 8, 5), np.uint8), "object array": np.array([[None]], dtype=object),
              "int64 extremes": np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max]])}
    for what, value in {**values, **arrays}.items():
        cases[f"image: {what}"] = {"image": value}
    return cases
