"""``python -m pyenvdoctor``."""

from __future__ import annotations

import sys

from pyenvdoctor.cli import main

if __name__ == "__main__":
    sys.exit(main())
