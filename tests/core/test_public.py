"""Each package has one public door: a sorted __all__ whose every name exists."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["queue_core", "api", "worker"])
def test_all_is_sorted_and_complete(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is exported but missing"
