"""Fingerprints: procedural synthesis, minutiae templates, matching, quality."""
