"""`python -m forecast` runs the command line."""

from forecast.cli.commands import app

app(prog_name="forecast")
