"""merbench: a plugin-based benchmark suite for facial micro-expression recognition."""

__version__ = "0.1.0"
