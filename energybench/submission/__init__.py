"""MLPerf Tiny submission trees: build one from energybench run folders (`init`, `add`) and
check one, ours or a published round (`check`): the official checker's rules and verdict,
energy recomputed from the raw data, validity, provenance, system descriptions.

Modules: rules (per round), tree (layout, settings), system (description TOML → JSON), runs
(reading run folders), add (placement, manifest, generated texts in describe), manifest,
check/ (the checker)."""
