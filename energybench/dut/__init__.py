"""MLPerf Tiny DUT protocol client over a direct link or the interface board."""
