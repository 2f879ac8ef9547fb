"""Examples that embed sessionward; importable from the repository root (``sessionward.examples.multilane_bot``)."""
