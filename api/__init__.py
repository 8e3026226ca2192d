"""taskrow HTTP API (Flask)."""
