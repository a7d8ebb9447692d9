"""Benchmarks: printed measurements, never assertions (speed goals live here, not in tests).

Run as scripts from the repository root, e.g. ``python bench/fio_nbd.py --help``.
"""
