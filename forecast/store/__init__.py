"""The model directory: one bundle per version, which version is current, and promotion."""
