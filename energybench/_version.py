"""The version of energybench (one place; the package and every layer read it here)."""

__version__ = "0.1.0"
