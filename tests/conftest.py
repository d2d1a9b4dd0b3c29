"""Shared fixtures. The test helpers in this folder import as top-level modules."""

from servers import llama_server  # noqa: F401  (a module-scoped fixture: one real llama.cpp server)
