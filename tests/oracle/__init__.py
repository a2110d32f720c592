"""A randomized differential test of the bytecode scan against CPython itself (issue 13).

:mod:`tests.oracle.bytecode` builds seeded random trees (:func:`~tests.oracle.bytecode.make_case`),
scans each with :func:`pyenvdoctor.collect.bytecode.scan_bytecode` (per-file categories), then
imports every module of the tree in the target interpreter with ``-v`` in one process and
compares, per pyc, the scan's category with what CPython did.
"""
