"""The contract that reports and caches are never part of a dataset (synthbio.io.derived)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from synthbio.io.derived import (
    DERIVED_MARKER,
    derived_info,
    is_derived,
    keep_data_names,
    mark_derived,
    sibling_folder,
    walk_files,
)


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_walk_skips_marked_folders_and_hidden_entries(tmp_path: Path) -> None:
    for rel in ("00000/00.png", "00001/00.png", "report/det.png", "report/cache/a.json", ".tmp/x.png",
                "00000/.00.png.1234.tmp"):
        _touch(tmp_path / rel)
    mark_derived(tmp_path / "report", command="fingerprints evaluate", source=tmp_path)
    assert is_derived(tmp_path / "report") and not is_derived(tmp_path / "00000")
    assert derived_info(tmp_path / "report")["command"] == "fingerprints evaluate"
    assert [p.relative_to(tmp_path).as_posix() for p in walk_files(tmp_path)] == ["00000/00.png", "00001/00.png"]


def test_archive_names_follow_the_same_rule(tmp_path: Path) -> None:
    names = ["a/0.png", "rep/det.png", f"rep/{DERIVED_MARKER}", "rep/sub/x.png", ".hidden/y.png", "b/.z.png"]
    assert keep_data_names(names) == ["a/0.png"]
    import numpy as np

    from synthbio.io.images import write_png

    for rel in ("a/0.png", "rep/det.png"):
        (tmp_path / "d" / rel).parent.mkdir(parents=True, exist_ok=True)
        write_png(tmp_path / "d" / rel, np.zeros((8, 8), np.uint8))
    mark_derived(tmp_path / "d" / "rep", command="x", source=tmp_path / "d")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        for p in sorted((tmp_path / "d").rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(tmp_path / "d").as_posix())
    from synthbio.training.data import DatasetConfig, ImageDataset

    assert ImageDataset(DatasetConfig(path=str(tmp_path / "d.zip"))).keys == ["a/0.png"]


def test_sibling_folder(tmp_path: Path) -> None:
    assert sibling_folder("runs/fp", "report") == Path("runs/fp_report")
    assert sibling_folder("fp/", "attack") == Path("fp_attack")
    assert sibling_folder(tmp_path, "report") == tmp_path.with_name(tmp_path.name + "_report")


def test_every_image_reader_skips_masks_depth_maps_grids_and_set_aside_samples(tmp_path: Path) -> None:
    """A `masks generate` / `dataset generate --masks` / `generate --save-depth png16` folder: only samples count."""
    import numpy as np

    from synthbio.identity.privacy import image_files
    from synthbio.io.databases.builders import _images_under
    from synthbio.io.derived import is_sample_image
    from synthbio.io.images import write_png
    from synthbio.metrics.fid import list_images
    from synthbio.training.data import DatasetConfig, ImageDataset
    from synthbio.translation.data import list_domain_images

    samples = ["00000/reference.png", "00000/var01.png", "rgb/seed0010.png"]
    beside = ["00000/reference_mask.png", "00000/var01_mask_color.png", "masks/seed0010_mask.png",
              "seed0003_annotation.png", "seed0000_yaw+0_pitch+0_depth.png", "grid.png", "grid_rgb.png",
              "dropped/rgb/seed0011.png"]
    for rel in samples + beside:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write_png(tmp_path / rel, np.zeros((8, 8), np.uint8))
    mark_derived(tmp_path / "dropped", command="masks generate --drop-uncertain", source=tmp_path)
    assert is_sample_image("sub/grid.png", (".png",)) and not is_sample_image("x_mask.jpg", (".jpg",))

    def rel(paths: list[Path]) -> list[str]:
        return [p.relative_to(tmp_path).as_posix() for p in paths]

    assert ImageDataset(DatasetConfig(path=str(tmp_path))).keys == samples
    assert rel(list_images(tmp_path)) == samples
    assert rel(list_domain_images(tmp_path)) == samples
    assert rel(image_files(tmp_path)) == samples
    assert rel(_images_under(tmp_path)) == samples
