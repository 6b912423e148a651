"""PyTorch implementation of the neutral spec; mirrors `impls_tf` module for module."""

FRAMEWORK = "torch"
