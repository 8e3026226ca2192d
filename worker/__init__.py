"""taskrow worker runtime."""
