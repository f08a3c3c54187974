"""`python -m forecast` runs the command line."""

from forecast.cli import app

app(prog_name="forecast")
