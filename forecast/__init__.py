"""forecast: train stacked LSTM/GRU models on a time series and forecast from them."""

__version__ = "0.1.0"
