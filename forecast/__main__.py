"""`python -m forecast` runs the command line."""

from forecast.cli.commands import cli

cli()
