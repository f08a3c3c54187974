"""Series in: reading and validating files and tickers, frequencies, windows and scaling (no Keras)."""
