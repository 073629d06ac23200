"""``python -m mmdiff`` is the same as the ``mmdiff`` console script."""
from mmdiff.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
