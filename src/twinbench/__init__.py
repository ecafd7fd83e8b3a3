"""twinbench: PyTorch vs Keras 3, measured on twin implementations of the same model."""

__version__ = "0.1.0"
