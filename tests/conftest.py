"""Test configuration.

XLA_FLAGS (8 fake CPU devices) and JAX_PLATFORMS are set in the root conftest.py.
"""

import pytest


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Dataset look-ups see only this test's folders: no $JAXDL_DATA_DIR, an empty TFDS
    folder, a per-test cache and system folder (tests of the registry's rules)."""
    from jaxdl.data import registry

    monkeypatch.delenv("JAXDL_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_empty"))
    monkeypatch.setenv("JAXDL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "_SYSTEM_DIRS", (str(tmp_path / "system"),))
