"""Engines by capability: one Protocol each, implementations registered by name."""
