"""``python -m pyenvdoctor``."""

from __future__ import annotations

from pyenvdoctor.cli import run

if __name__ == "__main__":
    run()
