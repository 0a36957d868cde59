"""`python -m search ...`: the `search` command."""

from search.cli.app import main

main()
