"""MLPerf Tiny submission tree, provenance and checker (reads run folders)."""
