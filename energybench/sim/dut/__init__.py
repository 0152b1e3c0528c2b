"""The simulated MLPerf Tiny DUT: its firmware's command engine, models and board profiles."""
