"""`python -m medplib.convert`: forwards to `medplib.checkpoints.convert`."""

from .checkpoints.convert import main

if __name__ == "__main__":
    main()
