"""GAN training: data pipeline, ADA augmentation, losses, EMA and the training loop."""
