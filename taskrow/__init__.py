"""The taskrow command: the composition root that wires queue_core, api and worker together."""
