"""``python -m igtt`` runs the command line."""

from .cli import main

main()
