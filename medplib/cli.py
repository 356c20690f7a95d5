"""`medplib COMMAND ...`: the library's command-line tools in one entry point (installed as a console script).

Each command is the module's own ``main`` (``medplib train ...`` = ``python -m medplib.train ...``). The app is
not here: it lives in app.py + demo/ of a checkout or a Hugging Face Space (``python app.py``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("medplib.checkpoints.convert", "convert a released-layout checkpoint into our format"),
    "train": ("medplib.training.cli", "train a model with the multi-stage recipe"),
    "evaluate": ("medplib.evaluation.evaluate", "evaluate a model on synthetic or MeCoVQA-format data"),
    "generate-data": ("medplib.synthetic.generate", "write synthetic MeCoVQA-format data"),
    "parity": ("medplib.checkpoints.parity", "rerun the paths recorded from the original implementation"),
}


def usage() -> str:
    lines = ["usage: medplib COMMAND [ARGS...]   (medplib COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name:<14} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "The app runs from a checkout or a Space: python app.py"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"medplib: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
