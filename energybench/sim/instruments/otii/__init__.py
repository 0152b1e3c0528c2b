"""Simulated Qoitech Otii Arc/Ace behind the Otii TCP server."""
