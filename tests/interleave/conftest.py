"""The worker tests' fixtures, for the interleavings that need a real worker."""

from ..worker.conftest import start_worker

__all__ = ["start_worker"]
