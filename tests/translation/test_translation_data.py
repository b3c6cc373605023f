"""Translation domains: validation errors that name the files, and the deterministic training stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from translation_helpers import write_folder

from synthbio.errors import InputError
from synthbio.translation.data import DomainConfig, DomainDataset, DomainStream


def test_empty_missing_and_unreadable_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="holds no images"):
        DomainDataset(DomainConfig(path=tmp_path / "empty", crop=16))
    with pytest.raises(InputError, match="does not exist"):
        DomainDataset(DomainConfig(path=tmp_path / "missing", crop=16))
    write_folder(tmp_path / "bad", 2)
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"unreadable images .*broken\.png"):
        DomainDataset(DomainConfig(path=tmp_path / "bad", crop=16))


def test_mixed_channels_and_small_images(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "mixed", 2, channels=1)
    write_folder(folder / "rgb", 1, channels=3)
    with pytest.raises(InputError, match=r"mixes grey \(2\) and colour \(1\)"):
        DomainDataset(DomainConfig(path=folder, crop=16))
    assert DomainDataset(DomainConfig(path=folder, crop=16, channels=3)).channels == 3  # converted on request
    small = write_folder(tmp_path / "small", 2, size=(20, 30))
    with pytest.raises(InputError, match=r"smaller than 32x32 px: img00\.png \(30x20\), img01"):
        DomainDataset(DomainConfig(path=small, crop=32))
    # resizing the shorter side first makes them big enough
    assert DomainDataset(DomainConfig(path=small, crop=32, load_size=32)).sizes[0] == (48, 32)


def test_identity_layout_gives_labels_and_skips_grids(tmp_path: Path) -> None:
    write_folder(tmp_path / "ds" / "00001", 2)
    write_folder(tmp_path / "ds" / "00002", 1)
    PIL.Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ds" / "grid.png")
    ds = DomainDataset(DomainConfig(path=tmp_path / "ds", crop=16))
    assert ds.names == ["00001/img00.png", "00001/img01.png", "00002/img00.png"]
    assert ds.labels == ["00001", "00001", "00002"]


def test_stream_batches_are_pure_functions_of_their_position(tmp_path: Path) -> None:
    ds = DomainDataset(DomainConfig(path=write_folder(tmp_path / "a", 5, size=(40, 36)), crop=32))
    s1 = DomainStream(ds, batch_size=2, seed=1, domain=0)
    batches = [next(s1) for _ in range(4)]
    assert batches[0].shape == (2, 1, 32, 32) and batches[0].dtype == torch.float32
    assert float(batches[0].min()) >= -1 and float(batches[0].max()) <= 1
    s2 = DomainStream(ds, batch_size=2, seed=1, domain=0, start_batch=2)
    assert torch.equal(next(s2), batches[2]) and torch.equal(next(s2), batches[3])
    other = DomainStream(ds, batch_size=2, seed=1, domain=1)
    assert not torch.equal(next(other), batches[0])  # each domain has its own order and crops


def test_a_synthbio_dataset_gives_the_samples_its_manifest_lists(tmp_path: Path) -> None:
    from synthbio.io.manifest import ManifestWriter

    root = tmp_path / "fp"
    write_folder(root / "00000", 2)
    write_folder(root / "report", 1)  # an evaluation report inside the dataset: not a sample
    with ManifestWriter(root / "manifest.jsonl") as m:
        m.append({"finger": 0, "impressions": [{"files": {"png": {"path": "00000/img00.png"}, "json": {"path": "x.json"}}},
                                               {"files": {"png": {"path": "00000/img01.png"}}}]})
    ds = DomainDataset(DomainConfig(path=root, crop=16))
    assert ds.names == ["00000/img00.png", "00000/img01.png"] and ds.labels == ["00000", "00000"]


def test_symlinked_identity_folders_are_followed_once(tmp_path: Path) -> None:
    """A train/test split made of links to identity folders lists their images; a link loop ends."""
    write_folder(tmp_path / "store/id0", 2)
    write_folder(tmp_path / "store/id1", 3)
    split = tmp_path / "split"
    split.mkdir()
    (split / "id1").symlink_to(tmp_path / "store/id1", target_is_directory=True)
    (split / "id1" / "loop").symlink_to(split, target_is_directory=True)  # points back up: must not recurse forever
    ds = DomainDataset(DomainConfig(path=split, crop=0, mirror=False))
    assert [f.relative_to(split).as_posix() for f in ds.files] == [f"id1/img{i:02d}.png" for i in range(3)]
    assert ds.labels == ["id1"] * 3


def test_images_over_the_loader_limit_are_refused_from_their_header(tmp_path: Path) -> None:
    """A 100-megapixel PNG of a few hundred bytes: refused by the shared loader's header check, not decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 10000, 8, 0,
                                                                                          0, 0, 0))
                                        + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(InputError, match=r"bomb.png .*declares 100000000 pixels"):
        DomainDataset(DomainConfig(path=str(tmp_path), crop=0, min_size=8), what="A")
