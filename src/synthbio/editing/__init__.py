"""Latent editing: SeFa, PCA (GANSpace) and SVM (InterFaceGAN) directions, applying them,
and latent attribute classifiers."""

from synthbio.editing.apply import edit_latents, parse_strengths
from synthbio.editing.directions import Direction, load_direction, save_direction

__all__ = ["Direction", "edit_latents", "load_direction", "parse_strengths", "save_direction"]
