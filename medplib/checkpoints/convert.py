"""Convert a released MedPLIB checkpoint (folder or hub id) into our format, once.

    python -m medplib.convert SRC DST [--vision-tower CLIP] [--sam-checkpoint sam-med2d_b.pth]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .loading import RELEASED, CheckpointError, convert_released, detect_layout, resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="released-layout folder or hub id (e.g. Huangxs/MedPLIB-7b-2e)")
    parser.add_argument("dst", type=Path, help="output folder (our format)")
    parser.add_argument("--vision-tower", help="CLIP folder / hub id, when the checkpoint lacks the CLIP weights")
    parser.add_argument("--sam-checkpoint", help="SAM-Med2D .pth, when the checkpoint lacks the SAM weights")
    parser.add_argument("--vision-config", type=json.loads, help="CLIP sizes as JSON (non-7B checkpoints only)")
    parser.add_argument("--sam-config", type=json.loads, help="SAM-Med2D sizes as JSON (non-7B checkpoints only)")
    args = parser.parse_args(argv)
    try:
        src = resolve(args.src)
        if detect_layout(src) != RELEASED:
            raise CheckpointError(f"{src} is already in our format; nothing to convert")
        out = convert_released(src, args.dst, args.vision_tower, args.sam_checkpoint, args.vision_config, args.sam_config)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
