"""Whole jobs over the public API: dataset generation, style mixing, the demo."""
