"""forecast: train stacked LSTM/GRU models on a time series and forecast from them.

The Python API is `forecast.api` (train and predict on DataFrames); importing this package loads
neither it nor Keras.
"""

from forecast.version import __version__

__all__ = ["__version__"]
