"""Examples that embed sessionward; importable from the repository root (``examples.multilane_bot``)."""
