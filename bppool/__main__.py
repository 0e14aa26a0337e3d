"""``python -m bppool`` runs the CLI."""

from bppool.cli import main

main()
