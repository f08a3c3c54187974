"""Scoring forecasts: error measures, baseline forecasters and conformal intervals (no Keras)."""
