"""Test configuration.

XLA_FLAGS (8 fake CPU devices) and JAX_PLATFORMS are set in the root conftest.py.
"""
