#!/usr/bin/env bash
# The main job on a fresh machine: install, then run every MLPerf Tiny workload (kws01, vww01,
# ic01, ad01) in performance, accuracy and energy mode on the virtual lab and print the table.
# Uses the reference models and the kws01 set from ../shared/mlperf-tiny when present.
source "$(dirname "$0")/_venv.sh"
exec energybench demo "$@"
