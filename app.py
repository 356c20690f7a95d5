"""MedPLIB demo: `python app.py [--model NAME_OR_PATH] [--host HOST] [--port PORT] [--mcp]`.

Loads the built-in tiny model by default (offline, CPU); `--model` (or env MEDPLIB_MODEL) takes the
released 7B hub id or any checkpoint folder `MedPLIB.from_pretrained` loads. UI: demo/ui.py.
"""

import argparse
import os
import sys


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.environ.get("MEDPLIB_MODEL") or None,
                   help="hub id or folder (default: env MEDPLIB_MODEL, else the built-in tiny model)")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1; 0.0.0.0 on a HF Space)")
    p.add_argument("--port", type=int, default=None, help="default 7860 (or env GRADIO_SERVER_PORT)")
    p.add_argument("--dtype", default="auto", help="auto, bf16, fp16 or fp32")
    p.add_argument("--quantization", type=int, choices=(4, 8), default=None, help="4/8-bit LLM (CUDA)")
    p.add_argument("--vision-tower", default=None, help="CLIP tower for a released-layout checkpoint")
    p.add_argument("--sam-checkpoint", default=None, help="SAM-Med2D weights for a released-layout checkpoint")
    p.add_argument("--max-file-size", default=None, help="upload limit, e.g. 200mb")
    p.add_argument("--mcp", action="store_true",
                   help="also serve the ask tool over MCP at /gradio_api/mcp/ (needs the mcp package)")
    args = p.parse_args(argv)

    from medplib import MedPLIB
    from medplib.checkpoints.loading import CheckpointError

    try:
        medplib = MedPLIB.from_pretrained(args.model, dtype=args.dtype, quantization=args.quantization,
                                          vision_tower=args.vision_tower, sam_checkpoint=args.sam_checkpoint)
    except (CheckpointError, ValueError) as err:
        sys.exit(f"Cannot load the model: {err}")

    from demo import mcp
    from demo.ui import MAX_FILE_SIZE, build_app, launch

    demo = build_app(medplib)
    # mcp_server=False also overrides Gradio's GRADIO_MCP_SERVER environment switch: MCP only when asked for
    launch(demo, host=args.host, port=args.port, max_file_size=args.max_file_size or MAX_FILE_SIZE,
           mcp_server=args.mcp, app_kwargs={"middleware": [mcp.middleware(demo)]} if args.mcp else None)


if __name__ == "__main__":
    main()
