"""Repository-level tests: the root specification, the packaged agent, the running service."""
