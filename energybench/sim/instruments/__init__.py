"""Instrument simulators, by family, each speaking its instrument's real wire protocol."""
