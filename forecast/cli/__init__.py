"""The command line: commands, shared options, terminal text, plots, log lines and output files."""
