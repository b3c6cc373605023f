"""One entry point for every checkpoint kind: path or registry name -> module.

Formats are told apart by content, not by suffix:

- a folder with config.json (or a file inside one)   -> native
- a zip archive or a legacy `torch.save` stream        -> rosinality .pt
- any other pickle stream                              -> official NVlabs .pkl
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from synthbio.checkpoints import native, nvlabs, nvlabs_eg3d, nvlabs_stylegan3, rosinality
from synthbio.checkpoints.registry import resolve_model
from synthbio.errors import CheckpointError, library_message
from synthbio.nn.architectures import AnyGenerator
from synthbio.nn.discriminator import Discriminator
from synthbio.utils.hashing import module_sha256

NATIVE = "native"
NVLABS_PKL = "nvlabs-pkl"
ROSINALITY_PT = "rosinality-pt"

_ZIP_MAGIC = b"PK\x03\x04"
# torch.save's legacy format begins with a pickled magic number (protocol 2, long 0x1950a86a20f9469cfc6c).
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def detect_format(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """(format, path to hand to that format's reader) for an existing path."""
    path = Path(path)
    if path.is_dir():
        if native.is_native_dir(path):
            return NATIVE, path
        raise CheckpointError(f"{path}: folder without {native.CONFIG_FILE}, not a synthbio model folder")
    if path.name in (native.CONFIG_FILE, native.WEIGHTS_FILE) and native.is_native_dir(path.parent):
        return NATIVE, path.parent
    try:
        with path.open("rb") as f:
            head = f.read(len(_LEGACY_TORCH_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc}") from None
    if head.startswith(_ZIP_MAGIC) or head == _LEGACY_TORCH_MAGIC:
        return ROSINALITY_PT, path
    if head[:1] == b"\x80":  # PROTO opcode: a pickle stream
        return NVLABS_PKL, path
    raise CheckpointError(f"{path}: unrecognised checkpoint format (expected a synthbio model folder, an "
                          "official StyleGAN .pkl or a rosinality .pt)")


def _device(module: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    return module.to(torch.device(device)).eval()


def load_official_generator(path: str | os.PathLike[str], *, which: str = "G_ema") -> AnyGenerator:
    """An official NVlabs pickle's generator, whatever its family: StyleGAN2(-ADA), StyleGAN3 (T/R) or EG3D."""
    path = Path(path)
    rec = nvlabs.generator_record(path, which=which)
    try:
        kind = nvlabs.generator_kind(rec)
        if kind == "stylegan3":
            return nvlabs_stylegan3.load_stylegan3_record(rec, path=path, which=which)
        if kind == "eg3d":
            return nvlabs_eg3d.load_eg3d_record(rec, path=path, which=which)
    except nvlabs.RECORD_ERRORS as exc:  # a hostile or damaged record: name it, never a bare traceback
        raise CheckpointError(f"{path}: '{which}' lacks a part of a {kind_name(rec)} generator "
                              f"({library_message(exc)})") from None
    return nvlabs.load_stylegan2_record(rec, path=path, which=which)


def kind_name(rec: nvlabs.PersistentRecord) -> str:
    """The family a record claims to be, for error messages (never raises)."""
    try:
        return {"stylegan3": "StyleGAN3", "eg3d": "EG3D"}.get(nvlabs.generator_kind(rec), "StyleGAN2")
    except nvlabs.RECORD_ERRORS:
        return "StyleGAN"


def load_generator(path_or_name: str | os.PathLike[str], *, device: str | torch.device = "cpu",
                   which: str = "G_ema") -> AnyGenerator:
    """Generator from a native folder, an official .pkl, a rosinality .pt or a registry name.

    which: 'G_ema' (default; rosinality 'g_ema') or 'G' (raw training weights;
    rosinality 'g'). Native folders hold one generator, so `which` is ignored there.
    Raises CheckpointError / ModelNotFoundError naming the input.
    """
    fmt, path = detect_format(resolve_model(path_or_name))
    if fmt == NATIVE:
        G = native.load_generator_native(path)
    elif fmt == NVLABS_PKL:
        G = load_official_generator(path, which=which)
    else:
        ros_which = {"G_ema": "g_ema", "G": "g"}.get(which, which)
        G = rosinality.load_rosinality_generator(path, which=ros_which)
    return _device(G, device)  # type: ignore[return-value]


def load_discriminator(path_or_name: str | os.PathLike[str], *, device: str | torch.device = "cpu"
                       ) -> Discriminator:
    """Discriminator from a native folder (its discriminator/ part) or an official .pkl ('D')."""
    fmt, path = detect_format(resolve_model(path_or_name))
    if fmt == NATIVE:
        D = native.load_discriminator_native(path)
    elif fmt == NVLABS_PKL:
        D = nvlabs.load_nvlabs_discriminator(path)
    else:
        raise CheckpointError(f"{path}: reading rosinality discriminators is not supported (generators only)")
    return _device(D, device)  # type: ignore[return-value]


def convert_checkpoint(src: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, which: str = "G_ema",
                       force: bool = False) -> Path:
    """Write any supported checkpoint (or registry name) as a native model folder.

    which: 'G_ema' / 'G' write that generator, plus the discriminator under
    `out_dir/discriminator/` when the source holds one; 'D' writes the
    discriminator alone. Provenance (source, its sha256, format, time) goes into
    config.json. An existing model folder is replaced only with force=True.
    """
    from synthbio.errors import OutputDirError

    if which not in ("G_ema", "G", "D"):
        raise CheckpointError(f"which must be one of G_ema, G, D; got {which!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out}: is a file; the output of convert is a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise OutputDirError(f"{out}: exists and is not empty (pass --overwrite to replace it, or choose another --outdir)")
    fmt, path = detect_format(resolve_model(src))
    source_file = path / native.WEIGHTS_FILE if fmt == NATIVE else path
    extra = {"which": which} if fmt != NATIVE else {}
    if str(src) != str(path) and not Path(src).exists():
        extra["registry_name"] = str(src)
    prov = native.make_provenance(source_file, source_format=fmt, extra=extra)
    if which == "D":
        native.save_discriminator(load_discriminator(path), out, provenance=prov)
        return out
    G = load_generator(path, which=which)
    D = None
    d_rec = nvlabs.read_network_pickle(path).get("D") if fmt == NVLABS_PKL else None
    if isinstance(d_rec, nvlabs.PersistentRecord) and d_rec.class_name == "Discriminator":
        D = nvlabs.load_nvlabs_discriminator(path)  # EG3D's DualDiscriminator is not converted
    elif fmt == NATIVE and native.is_native_dir(path / native.DISCRIMINATOR_DIR):
        D = native.load_discriminator_native(path)
    native.save_generator(G, out, provenance=prov, D=D)
    return out


def model_hash(G: torch.nn.Module) -> str:
    """sha256 naming a network's architecture and weights (not its file format).

    An official `.pkl` and its native conversion hash the same: the digest covers
    the architecture config (`G.config`) and the tensors, not how they were stored.
    """
    return module_sha256(G, header=G.config.to_dict())  # type: ignore[operator,union-attr]
