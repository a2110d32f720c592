"""pyenvdoctor: a doctor for Python environments.

``pyenvdoctor report`` inspects one interpreter and its environment (interpreter facts,
``sys.path``, installed distributions, bytecode, pip's cache) and says what is wrong and how to
fix it. See the README for the pipeline and the finding codes.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
