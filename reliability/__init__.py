"""Harnesses that attack ``python -m train`` from outside, as a hostile user would.

``validation_suite``: every kind of bad input gets one clear line, no traceback.
``fault_injection``: kills, signals, concurrent starts and damaged checkpoints never
lose work. Both drive the command line in subprocesses and read only what it writes;
they sit above ``train/`` (tests/test_import_graph.py), like ``benchmarks/``.
"""
