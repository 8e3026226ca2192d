"""The chaos suite: real processes, real signals, real faults; see docs/reliability.md."""
