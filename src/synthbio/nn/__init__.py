"""Networks of the StyleGAN2 family in plain PyTorch (no custom ops)."""
