"""Named models: where each comes from, and the local cache it is kept in.

`resolve_model(name_or_path)` turns a user's `--model` into a local path:

- an existing file or folder is returned as is;
- a registry name resolves to `$SYNTHBIO_HOME/models/<name>/<file>` (default
  `~/.cache/synthbio`), downloaded on first use (temporary file, sha256
  check where published, rename), or to a folder shipped inside the package
  (`package_path`, native format under `synthbio/models/<name>/`);
- offline (`SYNTHBIO_OFFLINE=1`, or any network error) the ModelNotFoundError
  names the URL and the exact path where the file can be placed by hand.

NVIDIA publishes no checksums for its StyleGAN2, StyleGAN3 and EG3D pickles
(neither the NGC catalogue nor the repositories list one), so those entries
have `sha256=None`: the file's digest is recorded at download (beside the file,
`<file>.sha256.json`, with `"verified": false`) and shown by `synthbio models
list`, so a user can compare it with a trusted copy, but nothing is checked.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from synthbio.errors import CheckpointError, ModelNotFoundError, os_problem
from synthbio.utils.hashing import discard_temp, raise_output_error, temp_path_for
from synthbio.utils.jsonio import read_json_file
from synthbio.utils.progress import Progress

_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
# StyleGAN2 networks re-released for the stylegan3 code base (networks_stylegan2).
_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
_NGC_SG3 = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/"
_NGC_EG3D = "https://api.ngc.nvidia.com/v2/models/nvidia/research/eg3d/versions/1/files/"
_CHUNK = 1 << 20
_TIMEOUT_S = 30


@dataclass(frozen=True)
class ModelEntry:
    """One named model. Exactly one of `url` / `package_path` is set.

    sha256: published digest of the file, None where the publisher gives none.
    fmt: 'nvlabs-pkl', 'rosinality-pt' or 'native' (generators); 'pytorch-state-dict';
        'facenet-pytorch-wheel' (a wheel whose data/*.pt state dicts are read in place).
    package_path: folder relative to the synthbio package (native format).
    kind: 'generator', or 'feature-extractor' (networks that metrics load, such as
        the FID Inception; `resolution` is then their input size), or 'face-detector'
        (`resolution` 0: any image size).
    """

    name: str
    resolution: int
    fmt: str
    description: str
    url: str | None = None
    sha256: str | None = None
    package_path: str | None = None
    kind: str = "generator"

    @property
    def filename(self) -> str:
        if self.url is None:
            return Path(self.package_path or self.name).name
        return self.url.rsplit("/", 1)[-1]


def _ada(name: str, file: str, res: int, what: str) -> ModelEntry:
    return ModelEntry(name=name, resolution=res, fmt="nvlabs-pkl", url=_ADA + file,
                      description=f"{what} (StyleGAN2-ADA-pytorch release)")


def _ngc(stem: str, res: int, what: str) -> ModelEntry:
    return ModelEntry(name=stem, resolution=res, fmt="nvlabs-pkl", url=f"{_NGC}{stem}.pkl",
                      description=f"{what} (StyleGAN2 config, stylegan3 release)")


def _sg3(stem: str, res: int, what: str) -> ModelEntry:
    config = "T (translation equivariant)" if "-t-" in stem else "R (translation and rotation equivariant)"
    return ModelEntry(name=stem, resolution=res, fmt="nvlabs-pkl", url=f"{_NGC_SG3}{stem}.pkl",
                      description=f"{what}, StyleGAN3 config {config}")


def _eg3d(stem: str, res: int, what: str) -> ModelEntry:
    return ModelEntry(name=f"eg3d-{stem}", resolution=res, fmt="nvlabs-pkl", url=f"{_NGC_EG3D}{stem}.pkl",
                      description=f"{what} (EG3D tri-plane, camera-controlled, with depth)")


_ENTRIES = (
    _ada("sg2ada-ffhq", "ffhq.pkl", 1024, "FFHQ faces 1024x1024, original StyleGAN2 training"),
    _ada("sg2ada-metfaces", "metfaces.pkl", 1024, "MetFaces 1024x1024, transfer from FFHQ with ADA"),
    _ada("sg2ada-afhqcat", "afhqcat.pkl", 512, "AFHQ Cat 512x512, ADA from scratch"),
    _ada("sg2ada-afhqdog", "afhqdog.pkl", 512, "AFHQ Dog 512x512, ADA from scratch"),
    _ada("sg2ada-afhqwild", "afhqwild.pkl", 512, "AFHQ Wild 512x512, ADA from scratch"),
    _ada("sg2ada-brecahad", "brecahad.pkl", 512, "BreCaHAD histology 512x512, ADA from scratch"),
    _ada("sg2ada-cifar10", "cifar10.pkl", 32, "CIFAR-10 32x32, class-conditional (c_dim=10)"),
    _ngc("stylegan2-ffhq-1024x1024", 1024, "FFHQ faces 1024x1024"),
    _ngc("stylegan2-ffhq-512x512", 512, "FFHQ faces 512x512"),
    _ngc("stylegan2-ffhq-256x256", 256, "FFHQ faces 256x256"),
    _ngc("stylegan2-ffhqu-1024x1024", 1024, "FFHQ-U (unaligned) faces 1024x1024"),
    _ngc("stylegan2-ffhqu-256x256", 256, "FFHQ-U (unaligned) faces 256x256"),
    _ngc("stylegan2-metfaces-1024x1024", 1024, "MetFaces 1024x1024"),
    _ngc("stylegan2-metfacesu-1024x1024", 1024, "MetFaces-U (unaligned) 1024x1024"),
    _ngc("stylegan2-afhqv2-512x512", 512, "AFHQv2 animal faces 512x512"),
    _ngc("stylegan2-afhqcat-512x512", 512, "AFHQ Cat 512x512"),
    _ngc("stylegan2-afhqdog-512x512", 512, "AFHQ Dog 512x512"),
    _ngc("stylegan2-afhqwild-512x512", 512, "AFHQ Wild 512x512"),
    _ngc("stylegan2-brecahad-512x512", 512, "BreCaHAD histology 512x512"),
    _ngc("stylegan2-cifar10-32x32", 32, "CIFAR-10 32x32, class-conditional"),
    _ngc("stylegan2-celebahq-256x256", 256, "CelebA-HQ faces 256x256"),
    _ngc("stylegan2-lsundog-256x256", 256, "LSUN Dog 256x256"),
    *(_sg3(f"stylegan3-{cfg}-{data}", res, what) for cfg in ("t", "r") for data, res, what in (
        ("ffhq-1024x1024", 1024, "FFHQ faces 1024x1024"),
        ("ffhqu-1024x1024", 1024, "FFHQ-U (unaligned) faces 1024x1024"),
        ("ffhqu-256x256", 256, "FFHQ-U (unaligned) faces 256x256"),
        ("metfaces-1024x1024", 1024, "MetFaces 1024x1024"),
        ("metfacesu-1024x1024", 1024, "MetFaces-U (unaligned) 1024x1024"),
        ("afhqv2-512x512", 512, "AFHQv2 animal faces 512x512"))),
    _eg3d("ffhq512-64", 512, "FFHQ faces 512x512, neural rendering 64x64"),
    _eg3d("ffhq512-128", 512, "FFHQ faces 512x512, neural rendering 128x128"),
    _eg3d("ffhqrebalanced512-64", 512, "FFHQ rebalanced poses 512x512, neural rendering 64x64"),
    _eg3d("ffhqrebalanced512-128", 512, "FFHQ rebalanced poses 512x512, neural rendering 128x128"),
    _eg3d("afhqcats512-128", 512, "AFHQ cats 512x512, neural rendering 128x128"),
    _eg3d("shapenetcars128-64", 128, "ShapeNet cars 128x128, neural rendering 64x64"),
    # FID Inception-v3 (TF inception-2015-12-05 ported by pytorch-fid). No full sha256 is
    # published; the name carries its prefix 6726825d, which synthbio.metrics.inception checks.
    ModelEntry(name="fid-inception-v3", resolution=299, fmt="pytorch-state-dict", kind="feature-extractor",
               url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth",
               description="Inception-v3 pool_3 features for FID/KID (pytorch-fid port of the 2015 TF graph)"),
    # torchvision's ImageNet VGG16; as above only the sha256 prefix 397923af is published (in the
    # name), checked by synthbio.nn.vgg.
    ModelEntry(name="vgg16-imagenet", resolution=224, fmt="pytorch-state-dict", kind="feature-extractor",
               url="https://download.pytorch.org/models/vgg16-397923af.pth",
               description="VGG16 ImageNet weights (torchvision) for perceptual / LPIPS losses"),
    # LPIPS v0.1 linear heads for VGG16. sha256 computed from the file at this URL (git blob 47e943cf
    # of PerceptualSimilarity master, identical to the copy in the lpips 0.1.4 wheel).
    ModelEntry(name="lpips-vgg-v0.1", resolution=224, fmt="pytorch-state-dict", kind="feature-extractor",
               url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
               sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
               description="LPIPS v0.1 per-channel weights over VGG16 features (Zhang et al. 2018)"),
    # MTCNN P/R/O-Net state dicts (the Caffe models as converted by facenet-pytorch), read from inside
    # this wheel; PyPI publishes its sha256.
    ModelEntry(name="mtcnn-facenet", resolution=0, fmt="facenet-pytorch-wheel", kind="face-detector",
               url="https://files.pythonhosted.org/packages/ed/2e/2d56386bc2f834cdc683743903852cf1428b4e5ee119f16cf808b589d3cd/"
                   "facenet_pytorch-2.6.0-py3-none-any.whl",
               sha256="ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca",
               description="MTCNN face detector with 5 landmarks (Zhang et al. 2016), weights from the "
                           "facenet-pytorch 2.6.0 wheel"),
)

# Shipped inside the package (native folders under synthbio/models/; cards beside the weights).
_PACKAGED = (
    ModelEntry(name="fingerprint-default", resolution=128, fmt="native", package_path="models/fingerprint-default",
               description="grayscale fingerprints 128x128 (250 dpi), trained on synthbio's procedural "
                           "impressions on CPU; see its MODEL_CARD.md"),
    ModelEntry(name="fingerprint-default-v1", resolution=128, fmt="native", package_path="models/fingerprint-default-v1",
               description="the first fingerprint-default (smooth procedural prints, before the skin model); "
                           "the generator fingerprint-minutiae-encoder was trained against"),
    ModelEntry(name="fingerprint-minutiae-encoder", resolution=128, fmt="native", kind="encoder",
               package_path="models/fingerprint-minutiae-encoder",
               description="minutiae map -> W+ of fingerprint-default-v1 (reconstruction from a minutiae "
                           "template); see its MODEL_CARD.md"),
)

#: name -> entry. Package-shipped models are added here with `package_path`.
REGISTRY: dict[str, ModelEntry] = {e.name: e for e in (*_ENTRIES, *_PACKAGED)}


def synthbio_home() -> Path:
    return Path(os.environ.get("SYNTHBIO_HOME") or Path.home() / ".cache" / "synthbio").expanduser()


def cache_path(entry: ModelEntry) -> Path:
    """Where a downloaded model lives (and where a user may place it by hand)."""
    return synthbio_home() / "models" / entry.name / entry.filename


def is_offline() -> bool:
    return os.environ.get("SYNTHBIO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _package_dir(entry: ModelEntry) -> Path:
    return Path(str(resources.files("synthbio"))) / (entry.package_path or "")


def is_cached(entry: ModelEntry) -> bool:
    return _package_dir(entry).exists() if entry.package_path else cache_path(entry).is_file()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_record(path: Path, digest: str, *, verified: bool) -> None:
    st = path.stat()
    record = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "verified": verified}
    _record_path(path).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _recorded_digest(path: Path) -> str | None:
    """The digest recorded for this exact file (same size and mtime), if any."""
    try:
        record = read_json_file(_record_path(path))
        st = path.stat()
        if record["size"] == st.st_size and record["mtime_ns"] == st.st_mtime_ns:
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _check_digest(entry: ModelEntry, path: Path, digest: str) -> None:
    if entry.sha256 is not None and digest != entry.sha256.lower():
        raise CheckpointError(f"{path}: sha256 {digest} does not match the published {entry.sha256} of "
                              f"model '{entry.name}' ({entry.url}); delete the file and try again")


def _verify_cached(entry: ModelEntry, path: Path) -> None:
    """Check a cached file once; later calls trust the record while size and mtime are unchanged."""
    recorded = _recorded_digest(path)
    if recorded is None:
        recorded = _sha256(path)
        _check_digest(entry, path, recorded)
        _write_record(path, recorded, verified=entry.sha256 is not None)
    else:
        _check_digest(entry, path, recorded)


def check_published_prefix(path: str | os.PathLike[str], name: str, prefix: str) -> None:
    """CheckpointError if `path` carries registry entry `name`'s file name but its sha256
    does not start with `prefix` (the digest prefix the publisher put in that name).

    Files with any other name are the user's own and are not checked here.
    """
    entry = REGISTRY.get(name)
    path = Path(path)
    if entry is None or path.name != entry.filename:
        return
    from synthbio.utils.hashing import sha256_file

    digest = sha256_file(path)
    if not digest.startswith(prefix):
        raise CheckpointError(f"{path}: sha256 {digest} does not start with {prefix}, the prefix in the "
                              f"published file's name; the file is damaged or not {entry.url}")


def _not_available(entry: ModelEntry, path: Path, why: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model '{entry.name}' is not available ({why}). Download {entry.url} and place it at {path} "
        f"(or pass the file's path instead of the name).")


def _download(entry: ModelEntry, path: Path, *, progress: bool) -> None:
    assert entry.url is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path, suffix=".part")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out, urllib.request.urlopen(entry.url, timeout=_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(entry, total) if progress else None
            try:
                while block := resp.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    if bar is not None:
                        bar[0].advance(bar[1], len(block) / 1e6)
            finally:
                if bar is not None:
                    bar[0].stop()
        _check_digest(entry, path, digest.hexdigest())
        os.replace(tmp, path)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: malformed URL
        discard_temp(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, urllib.error.URLError) and os_problem(exc, path):
            raise_output_error(exc, path)  # the cache's disk said no: a full disk is not a missing model
        raise _not_available(entry, path, f"download failed: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_record(path, digest.hexdigest(), verified=entry.sha256 is not None)


def _progress_bar(entry: ModelEntry, total: int | None):  # type: ignore[no-untyped-def]
    bar = Progress(transient=True).start()
    task = bar.add_task(f"downloading {entry.name}", total=None if total is None else round(total / 1e6, 1),
                        unit="MB")
    return bar, task


def _unknown(name: str, registry: dict[str, ModelEntry]) -> ModelNotFoundError:
    close = difflib.get_close_matches(name, list(registry), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ModelNotFoundError(f"'{name}' is neither an existing file/folder nor a known model name.{hint} "
                              "See `synthbio models list`.")


def resolve_model(name_or_path: str | os.PathLike[str], *, registry: dict[str, ModelEntry] | None = None,
                  progress: bool = True) -> Path:
    """Local path of a checkpoint file/folder given its path or registry name (see module doc)."""
    registry = REGISTRY if registry is None else registry
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = str(name_or_path)
    entry = registry.get(name)
    if entry is None:
        raise _unknown(name, registry)
    if entry.package_path is not None:
        local = _package_dir(entry)
        if not local.exists():
            raise ModelNotFoundError(f"model '{name}' should ship inside the package at {local}, which is missing "
                                     "(reinstall synthbio)")
        return local
    local = cache_path(entry)
    if local.is_file():
        _verify_cached(entry, local)
        return local
    if is_offline():
        raise _not_available(entry, local, "offline: SYNTHBIO_OFFLINE is set")
    _download(entry, local, progress=progress)
    return local
