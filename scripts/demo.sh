#!/usr/bin/env bash
# The main job on a fresh machine: install, then analyse the bundled sample recording.
source "$(dirname "$0")/_venv.sh"
exec energybench analyze examples/sample.jls --sync "gpi[0]:falling" --skip-edges 1 --inferences 10 "$@"
