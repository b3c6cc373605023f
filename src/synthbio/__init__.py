"""synthbio: synthetic biometric data with one StyleGAN2-family engine."""

__version__ = "0.1.0"
