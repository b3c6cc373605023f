"""Model registry: cache layout, download + verify over loopback, offline and unknown names."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from synthbio.checkpoints.registry import REGISTRY, ModelEntry, cache_path, resolve_model
from synthbio.errors import CheckpointError, ModelNotFoundError

PAYLOAD = b"\x80\x04tiny checkpoint bytes" * 1000


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SYNTHBIO_OFFLINE", raising=False)
    return tmp_path / "home"


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "www"
    root.mkdir()
    (root / "tiny.pkl").write_bytes(PAYLOAD)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _entry(url: str, sha: str | None) -> ModelEntry:
    return ModelEntry(name="tiny", resolution=16, fmt="nvlabs-pkl", description="test", url=url, sha256=sha)


def test_download_verify_cache(served: str, home: Path) -> None:
    entry = _entry(f"{served}/tiny.pkl", hashlib.sha256(PAYLOAD).hexdigest())
    path = resolve_model("tiny", registry={"tiny": entry}, progress=False)
    assert path == home / "models" / "tiny" / "tiny.pkl" == cache_path(entry)
    assert path.read_bytes() == PAYLOAD
    assert '"verified": true' in path.with_name("tiny.pkl.sha256.json").read_text()
    assert {p.name for p in path.parent.iterdir()} == {"tiny.pkl", "tiny.pkl.sha256.json"}  # no .part left
    # Cached: resolves without the server, and a changed file is caught by re-verification.
    bad_url = _entry("http://127.0.0.1:9/tiny.pkl", entry.sha256)  # same file name, unreachable
    assert resolve_model("tiny", registry={"tiny": bad_url}, progress=False) == path
    path.write_bytes(b"tampered")
    with pytest.raises(CheckpointError, match="does not match the published"):
        resolve_model("tiny", registry={"tiny": bad_url}, progress=False)


def test_checksum_mismatch_leaves_no_file(served: str, home: Path) -> None:
    entry = _entry(f"{served}/tiny.pkl", "0" * 64)
    with pytest.raises(CheckpointError, match="0000000000"):
        resolve_model("tiny", registry={"tiny": entry}, progress=False)
    assert not any((home / "models" / "tiny").iterdir())


def test_file_url_without_published_checksum(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    src = tmp_path / "src" / "tiny.pkl"
    src.write_bytes(PAYLOAD)
    path = resolve_model("tiny", registry={"tiny": _entry(src.as_uri(), None)}, progress=False)
    assert path.read_bytes() == PAYLOAD
    record = path.with_name("tiny.pkl.sha256.json").read_text()
    assert hashlib.sha256(PAYLOAD).hexdigest() in record and '"verified": false' in record


def test_offline_error_names_url_and_path(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("sg2ada-ffhq")
    msg = str(info.value)
    assert "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl" in msg
    assert str(home / "models" / "sg2ada-ffhq" / "ffhq.pkl") in msg


def test_network_error_is_reported_like_offline(home: Path) -> None:
    entry = _entry("http://127.0.0.1:9/tiny.pkl", None)  # port 9 (discard): connection refused
    with pytest.raises(ModelNotFoundError, match=r"download failed.*127\.0\.0\.1:9/tiny\.pkl.*place it at"):
        resolve_model("tiny", registry={"tiny": entry}, progress=False)


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(ModelNotFoundError, match="Did you mean: sg2ada-ffhq"):
        resolve_model("sg2ada-fhq")


def test_existing_path_and_package_entries(tmp_path: Path) -> None:
    assert resolve_model(tmp_path) == tmp_path
    entry = ModelEntry(name="shipped", resolution=256, fmt="native", description="x", package_path="models/none")
    with pytest.raises(ModelNotFoundError, match="ship inside the package"):
        resolve_model("shipped", registry={"shipped": entry})
    entry = ModelEntry(name="nn", resolution=256, fmt="native", description="x", package_path="nn")
    assert resolve_model("nn", registry={"nn": entry}).name == "nn"


def test_registry_entries_are_consistent() -> None:
    assert {"sg2ada-ffhq", "sg2ada-metfaces", "sg2ada-afhqcat", "sg2ada-afhqdog", "sg2ada-afhqwild",
            "sg2ada-brecahad", "sg2ada-cifar10", "stylegan2-ffhq-1024x1024"} <= set(REGISTRY)
    for name, entry in REGISTRY.items():
        assert entry.name == name and (entry.url is None) != (entry.package_path is None)
        assert entry.sha256 is None or len(entry.sha256) == 64


def test_published_file_names_must_carry_their_digest_prefix(tmp_path):
    from synthbio.checkpoints.registry import REGISTRY, check_published_prefix
    from synthbio.metrics.inception import FID_WEIGHTS_NAME, FID_WEIGHTS_SHA256_PREFIX

    entry = REGISTRY[FID_WEIGHTS_NAME]
    fake = tmp_path / entry.filename
    fake.write_bytes(b"not the published weights")
    with pytest.raises(CheckpointError, match=FID_WEIGHTS_SHA256_PREFIX):
        check_published_prefix(fake, FID_WEIGHTS_NAME, FID_WEIGHTS_SHA256_PREFIX)
    own = tmp_path / "my_inception.pth"  # another name: the user's own file, not checked here
    own.write_bytes(b"anything")
    check_published_prefix(own, FID_WEIGHTS_NAME, FID_WEIGHTS_SHA256_PREFIX)


def test_stylegan3_and_eg3d_entries_point_at_ngc_without_invented_digests() -> None:
    names = [n for n in REGISTRY if n.startswith(("stylegan3-", "eg3d-"))]
    assert len(names) == 18  # T and R x (FFHQ, FFHQ-U 1024/256, MetFaces, MetFaces-U, AFHQv2); six EG3D
    for name in names:
        entry = REGISTRY[name]
        assert entry.url.startswith("https://api.ngc.nvidia.com/v2/models/nvidia/research/")
        assert entry.url.endswith(".pkl") and entry.fmt == "nvlabs-pkl"
        assert entry.sha256 is None  # NVIDIA publishes none: recorded at download, not checked
    assert REGISTRY["stylegan3-r-ffhqu-256x256"].resolution == 256
    assert REGISTRY["eg3d-ffhq512-128"].filename == "ffhq512-128.pkl"
