"""Whole jobs over the public API, one folder per job family.

images/ (generate, mix, demo), dataset/ (identity datasets), fingerprints/
(procedural datasets, evaluation, reconstruction, attack), projection/
(images and whole database selections into latents), attributes/
(labelled faces -> classifier -> directions; covariate directions), plots/
(distance histograms of sample collections), and common/ (the
HTML report helpers they share). A job folder imports common/ and itself,
never another job (tests/test_architecture.py).
"""
