"""The network: building, fitting, running it (Keras or LiteRT) and the one forecasting path."""
