"""`python -m medplib.evaluate`: forwards to `medplib.evaluation.evaluate`."""

from .evaluation.evaluate import main

if __name__ == "__main__":
    main()
