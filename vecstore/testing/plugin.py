"""pytest plugin (entry point ``pytest11``): registers vecstore's markers.

Fixtures for real servers come with the test-kit issue; the conformance suite
lives in :mod:`vecstore.testing.conformance`.
"""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "integration: needs a real server or the real embedding model")
