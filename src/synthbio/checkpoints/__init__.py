"""Weight formats and named models: native folders, official NVlabs pickles,
rosinality checkpoints, and the model registry with its download cache."""

from synthbio.checkpoints.loading import (
    convert_checkpoint,
    detect_format,
    load_discriminator,
    load_generator,
    model_hash,
)
from synthbio.checkpoints.native import (
    load_discriminator_native,
    load_generator_native,
    make_provenance,
    save_discriminator,
    save_generator,
)
from synthbio.checkpoints.registry import REGISTRY, ModelEntry, resolve_model

__all__ = [
    "REGISTRY",
    "ModelEntry",
    "convert_checkpoint",
    "detect_format",
    "load_discriminator",
    "load_discriminator_native",
    "load_generator",
    "load_generator_native",
    "make_provenance",
    "model_hash",
    "resolve_model",
    "save_discriminator",
    "save_generator",
]
