"""Whole jobs over the public API, one folder per job family.

images/ (generate, mix, demo), dataset/ (identity datasets), fingerprints/
(procedural datasets, evaluation, reconstruction, attack), projection/,
attributes/ (labelled faces -> classifier -> directions), and common/ (the
HTML report helpers they share). A job folder imports common/ and itself,
never another job (tests/test_architecture.py).
"""
