"""`python -m medplib.train`: forwards to `medplib.training.cli`."""

from .training.cli import main

if __name__ == "__main__":
    main()
