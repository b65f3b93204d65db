"""``python -m ganexplorer`` (what ``torchrun ... -m ganexplorer discover ...`` runs on every rank)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
