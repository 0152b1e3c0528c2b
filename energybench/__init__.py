"""energybench: energy-measurement-first benchmarking for TinyML systems."""

__version__ = "0.1.0"
