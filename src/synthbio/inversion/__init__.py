"""Inversion: projecting images into a generator's latent space, and the reconstruction losses it uses."""
