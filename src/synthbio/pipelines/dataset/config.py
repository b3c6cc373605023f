"""What `synthbio dataset generate` is asked to make: its config, result, seeds and shards.

See `synthbio.pipelines.dataset.generate` for the job and the on-disk layout
(`synthbio.pipelines.dataset.layout`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError
from synthbio.generation.sampling import check_noise_mode
from synthbio.utils.jsonio import read_json_file
from synthbio.pipelines.common.shards import shard_items
from synthbio.utils.seeds import check_seed, parse_shard  # parse_shard: shared with other sharded jobs

CONFIG_NAME = "config.json"
LATENTS_NAME = "latents.safetensors"
REFERENCES_NAME = "references.safetensors"
LAYOUT_VERSION = 1
REFERENCE_LABEL = "reference"

MODALITIES = ("face", "fingerprint")
REFERENCE_METHODS = ("rejection", "langevin", "derivative-free")
VARIATION_METHODS = {
    "face": ("dispersion", "disco", "style-mixing", "pose"),
    "fingerprint": ("procedural", "generator"),
}
BACKENDS = ("local", "ray")
# Config fields that never change a file of the dataset: a directory may be resumed with other values.
_RUNTIME_FIELDS = ("outdir", "shard", "backend", "ray_address", "ray_shards", "batch_size", "device", "overwrite")
_PRIVACY_SELECTION = ("privacy_protocol", "privacy_group", "privacy_where")
_POSE_FIELDS = ("pose_yaw", "pose_pitch")  # left out of the content while unused (datasets made before them)
_OPTIONAL_CONTENT = (*_PRIVACY_SELECTION, "masks")  # left out of content() while unset


@dataclass(frozen=True)
class DatasetConfig:
    """Everything `synthbio dataset generate` needs; saved in DIR/config.json.

    model: generator (registry name or checkpoint path); None only for
        procedural fingerprints, which need no generator.
    identity_model: recogniser name (`synthbio.identity.models`), e.g.
        "dlib-resnet", "pixel-random" (tests only), "nbis-bozorth3".
    identities: N, identity ids 0..N-1. samples_per_identity: M >= 1
        (the reference and M - 1 variations).
    truncation_psi: truncation of reference (and style-mixing) latents.
    inter_threshold: between references of two identities. Vector models: the
        minimum angle in radians (None = 1.4, the ICT of Geissbuehler et al.);
        template matchers: the maximum score (None = the model's threshold).
    intra_threshold: between a variation and its reference. Vector models:
        the maximum angle in radians; template matchers: the minimum score
        (None = the model's threshold, in either case).
    max_intra_similarity: two variations of one identity may be at most this
        similar (drops near-duplicates; ArcBiFaceGAN uses cosine 0.853); None = no limit.
    privacy_reference: REAL identities: an ImageFolder, or a database index
        (`synthbio db build`) narrowed by privacy_protocol / privacy_group /
        privacy_where ('name=value' attribute conditions); references whose
        similarity to any real image reaches privacy_threshold are rejected.
        privacy_threshold None = derived from that folder (mean - 2 std of its
        genuine similarities), but never below the identity model's decision
        threshold (a matcher's genuine scores can put mean - 2 std below 0).
    shard: "K/N": make only identities i with i % N == K.
    backend: "local" (this process) or "ray" (ray_shards Ray tasks on the
        cluster at ray_address, or a local Ray instance when None, then merged).
    directions: direction files (`synthbio.editing.directions`) DisCo varies along.
    fp_width, fp_height: sensor size of procedural fingerprints (500 dpi).
    fp_sensor: sensor preset(s) of procedural fingerprints: one of optical,
        capacitive, ink, latent, a comma list, or mixed (each sample's sensor
        drawn from them; `synthbio.fingerprints.impressions.SENSOR_PRESETS`).
    max_attempts: rounds of variation candidates before keeping the best ones
        when the intra-class check fails (recorded as passed=false); the CLI's
        --variation-attempts.
    reference_attempts: rejection references: candidate seeds per identity
        before giving up (--reference-attempts).
    overwrite: replace another run's dataset in `outdir` instead of refusing.
    pose_yaw / pose_pitch: EG3D generators: (min, max) degrees of the camera each
        variation is rendered from (uniform, drawn per candidate; the reference
        faces the camera). With variation_method 'pose' the variations keep the
        reference's latent and only the view changes; with the other methods the
        view changes on top of the latent variation. (0, 0) = front view.
    masks: a pixel classifier folder (`synthbio masks train` on this
        generator): every image gets its index mask `<label>_mask.png` beside it.
    """

    outdir: str
    model: str | None = None
    identity_model: str = "pixel-random"
    identity_weights: str | None = None
    modality: str = "face"
    identities: int = 10
    samples_per_identity: int = 4
    seed: int = 0
    truncation_psi: float = 0.7
    noise_mode: str = "const"
    reference_method: str = "rejection"
    variation_method: str = "style-mixing"
    inter_threshold: float | None = None
    intra_threshold: float | None = None
    max_intra_similarity: float | None = None
    privacy_reference: str | None = None
    privacy_protocol: str | None = None
    privacy_group: str | None = None
    privacy_where: tuple[str, ...] = ()
    privacy_threshold: float | None = None
    directions: tuple[str, ...] = ()
    fp_width: int = 416
    fp_height: int = 560
    fp_sensor: str = "optical"
    max_attempts: int = 4
    reference_attempts: int = 1000
    masks: str | None = None
    shard: str = "0/1"
    backend: str = "local"
    ray_address: str | None = None
    ray_shards: int = 2
    batch_size: int = 8
    device: str = "cpu"
    overwrite: bool = False
    pose_yaw: tuple[float, float] = (0.0, 0.0)
    pose_pitch: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        for name in _POSE_FIELDS:
            rng = tuple(float(v) for v in getattr(self, name))
            if len(rng) != 2 or rng[0] > rng[1]:
                raise InputError(f"--{name.replace('_', '-')} must be 'min,max' degrees with min <= max, got {list(rng)}")
            object.__setattr__(self, name, rng)
        if self.variation_method == "pose" and self.pose_yaw == (0.0, 0.0) and self.pose_pitch == (0.0, 0.0):
            raise InputError("pose variations need a range of views: give --pose-yaw and/or --pose-pitch "
                             "(e.g. --pose-yaw=-30,30)")
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        object.__setattr__(self, "truncation_psi", float(self.truncation_psi))
        object.__setattr__(self, "directions", tuple(os.fspath(d) for d in self.directions))
        object.__setattr__(self, "privacy_where", tuple(self.privacy_where))
        if self.masks is not None:
            object.__setattr__(self, "masks", os.fspath(self.masks))
        if self.privacy_reference is None and (self.privacy_protocol or self.privacy_group or self.privacy_where):
            raise InputError("--protocol, --group and --where select real images of --privacy-reference; give it")
        check_seed(self.seed)
        if self.modality not in MODALITIES:
            raise InputError(f"--modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        methods = VARIATION_METHODS[self.modality]
        if self.variation_method not in methods:
            raise InputError(
                f"--variations {self.variation_method!r} does not apply to {self.modality}s: use {', '.join(methods)}"
            )
        if self.reference_method not in REFERENCE_METHODS:
            raise InputError(f"--references {self.reference_method!r} is not one of {', '.join(REFERENCE_METHODS)}")
        if self.model is None and self.variation_method != "procedural":
            raise InputError("no generator given (--model); only procedural fingerprints need none")
        if self.masks is not None and self.variation_method == "procedural":
            raise InputError("--masks reads a generator's features: procedural fingerprints (--variations "
                             "procedural) have none; use --variations generator with a fingerprint generator")
        if self.identities < 1:
            raise InputError(f"--identities must be >= 1, got {self.identities}")
        if self.samples_per_identity < 1:
            raise InputError(f"--samples must be >= 1, got {self.samples_per_identity}")
        for flag, value in (("--batch-size", self.batch_size), ("--variation-attempts", self.max_attempts),
                            ("--reference-attempts", self.reference_attempts), ("--ray-shards", self.ray_shards)):
            if value < 1:
                raise InputError(f"{flag} must be >= 1, got {value}")
        if self.backend not in BACKENDS:
            raise InputError(f"--backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.fp_width < 64 or self.fp_height < 64:
            raise InputError(f"fingerprint sensor {self.fp_width}x{self.fp_height} is too small (--fp-width, "
                             "--fp-height: at least 64)")
        if self.fp_sensor != "optical":
            if self.variation_method != "procedural":
                raise InputError("--sensor applies to procedural fingerprints only (--variations procedural)")
            from synthbio.fingerprints.impressions import parse_sensors

            parse_sensors(self.fp_sensor)
        parse_shard(self.shard)
        check_noise_mode(self.noise_mode)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["directions"] = list(self.directions)  # as JSON gives it back, so saved and new configs compare equal
        d["privacy_where"] = list(self.privacy_where)
        for name in _POSE_FIELDS:
            d[name] = list(getattr(self, name))
        return d

    def content(self) -> dict[str, Any]:
        """The fields that fix the dataset's files (all but outdir, shard and runtime knobs).

        The database selection of the privacy reference and the masks are left out while unused, so
        that datasets made before they existed still resume.
        """
        return {k: v for k, v in self.to_dict().items() if k not in _RUNTIME_FIELDS
                and not (k in _OPTIONAL_CONTENT and v in (None, []))
                and not (k in _POSE_FIELDS and v == [0.0, 0.0])}

    def privacy_selection(self) -> Any:
        """The real images of the privacy filter as an ImageSelection (None without a reference)."""
        from synthbio.io.databases import ImageSelection, parse_where

        if self.privacy_reference is None:
            return None
        return ImageSelection(self.privacy_reference, protocol=self.privacy_protocol, group=self.privacy_group,
                              where=parse_where(list(self.privacy_where)))


def content_defaults() -> dict[str, Any]:
    """Default values of the content fields (what a config.json written before a field existed meant)."""
    return {f.name: (list(f.default) if isinstance(f.default, tuple) else f.default)
            for f in dataclasses.fields(DatasetConfig)
            if f.name not in _RUNTIME_FIELDS + _PRIVACY_SELECTION and f.default is not dataclasses.MISSING}


@dataclass(frozen=True)
class DatasetResult:
    outdir: Path
    identities: list[int]  # the identities of this shard
    generated: list[int]  # identities made by this call
    kept: list[int]  # identities found complete from an earlier call
    redone: list[int]  # identities found partial or changed, made again
    manifest: Path
    samples: Path
    config: Path


# --- seeds, shards ----------------------------------------------------------------------


def derived_seed(*words: int) -> int:
    """A 32-bit seed from SeedSequence(words): independent streams per (dataset seed, identity, sample)."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1)[0])


def shard_identities(identities: int, shard: str) -> list[int]:
    """Identities of shard K/N: i with i % N == K."""
    return shard_items(range(identities), shard)


def describe(config: DatasetConfig) -> dict[str, Any]:
    """config.json content (the resolved model hash and the run key are added by the job)."""
    return {
        "command": "dataset generate",
        "config": config.to_dict(),
        "content": config.content(),
        "identities_in_shard": len(shard_identities(config.identities, config.shard)),
        "layout_version": LAYOUT_VERSION,
        "synthbio_version": synthbio.__version__,
    }


def read_config(outdir: Path) -> dict[str, Any]:
    path = outdir / CONFIG_NAME
    try:
        data = read_json_file(path)
    except FileNotFoundError:
        raise InputError(f"{outdir} has no {CONFIG_NAME}: not a dataset made by `synthbio dataset generate`") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("content"), dict):
        raise InputError(f"{path} is not a dataset config")
    return data
