"""``python -m acakit`` runs the command line."""

from acakit.cli import main

main()
