"""Scoring forecasts: error measures, baseline forecasters and calibrated intervals (no Keras)."""
