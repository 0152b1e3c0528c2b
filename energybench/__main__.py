"""`python -m energybench` runs the CLI."""

from energybench.cli.app import main

main()
