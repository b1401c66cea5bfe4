"""paylake: metadata-driven medallion framework for payment analytics."""

__version__ = "0.1.0"
