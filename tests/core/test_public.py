"""Each package has one public door: a sorted __all__ whose every name exists, and that names
everything the package itself defines at its top level."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = ["queue_core", "api", "worker"]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_complete(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is exported but missing"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_of_the_package_is_exported(package: str) -> None:
    """A class or function of the package reachable as ``package.name`` is in ``__all__``:
    a name left out would be public by accident, outside the tested door."""
    module = importlib.import_module(package)
    own = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and (getattr(value, "__module__", None) or "").split(".")[0] == package
    }
    assert own, f"{package} defines nothing public?"
    assert sorted(own - set(module.__all__)) == []
