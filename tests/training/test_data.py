import json
import zipfile

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.errors import InputError
from synthbio.training.data import DatasetConfig, ImageDataset, infinite_loader, to_float


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(array).save(path)


def _images(n, size, channels, seed=0):
    rng = np.random.default_rng(seed)
    shape = (size, size) if channels == 1 else (size, size, 3)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def gray_dir(tmp_path):
    arrays = _images(5, 16, 1)
    for i, a in enumerate(arrays):
        _write(tmp_path / "gray" / f"sub{i % 2}" / f"{i:03d}.png", a)
    return tmp_path / "gray", arrays


def test_folder_scan_grayscale_native(gray_dir):
    root, arrays = gray_dir
    ds = ImageDataset(DatasetConfig(path=str(root)))
    assert (len(ds), ds.resolution, ds.branches, ds.c_dim, ds.name) == (5, 16, (("img", 1),), 0, "gray")
    # Sorted relative paths: sub0/000, sub0/002, sub0/004, sub1/001, sub1/003.
    assert ds.keys == ["sub0/000.png", "sub0/002.png", "sub0/004.png", "sub1/001.png", "sub1/003.png"]
    images, c = ds[3]
    assert images["img"].dtype == torch.uint8 and images["img"].shape == (1, 16, 16)
    np.testing.assert_array_equal(images["img"][0].numpy(), arrays[1])
    assert c.shape == (0,) and c.dtype == torch.float32


def test_zip_rgb_and_forced_channels(tmp_path):
    arrays = _images(3, 32, 3, seed=1)
    zpath = tmp_path / "faces.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for i, a in enumerate(arrays):
            _write(tmp_path / "tmp" / f"{i}.png", a)
            z.write(tmp_path / "tmp" / f"{i}.png", f"imgs/{i}.png")
        z.writestr("readme.txt", "not an image")
        z.writestr("labels.csv", "".join(f"imgs/{i}.png,{i}\n" for i in range(3)))
    ds = ImageDataset(DatasetConfig(path=str(zpath)))
    assert (len(ds), ds.resolution, ds.branches, ds.name) == (3, 32, (("img", 3),), "faces")
    x = ds[2][0]["img"]
    assert x.shape == (3, 32, 32)
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), arrays[2])
    labelled = ImageDataset(DatasetConfig(path=str(zpath), labels="labels.csv"))  # read from the archive
    assert labelled.c_dim == 3 and labelled[2][1].tolist() == [0.0, 0.0, 1.0]
    gray = ImageDataset(DatasetConfig(path=str(zpath), channels=1))
    expected = np.asarray(PIL.Image.fromarray(arrays[0]).convert("L"))
    np.testing.assert_array_equal(gray[0][0]["img"][0].numpy(), expected)


def test_sixteen_bit_gray_is_scaled(tmp_path):
    a = np.array([[0, 257 * 10], [257 * 200, 65535]], dtype=np.uint16).repeat(2, 0).repeat(2, 1)
    PIL.Image.fromarray(a).save(tmp_path / "a.png")
    ds = ImageDataset(DatasetConfig(path=str(tmp_path)))
    assert ds.branches == (("img", 1),)
    assert ds[0][0]["img"][0, ::2, ::2].tolist() == [[0, 10], [200, 255]]


def test_mixed_modes_become_rgb_and_corrupt_pixels_name_the_file(tmp_path):
    _write(tmp_path / "m" / "a.png", np.full((8, 8), 7, np.uint8))
    _write(tmp_path / "m" / "b.png", _images(1, 8, 3)[0])
    ds = ImageDataset(DatasetConfig(path=str(tmp_path / "m")))
    assert ds.branches == (("img", 3),) and ds[0][0]["img"].unique().tolist() == [7]
    good = (tmp_path / "m" / "b.png").read_bytes()
    (tmp_path / "m" / "b.png").write_bytes(good[: len(good) // 2])  # header intact, pixel data cut
    ds = ImageDataset(DatasetConfig(path=str(tmp_path / "m")))
    with pytest.raises(InputError, match="b.png"):
        ds[1]


def test_resize_and_center_crop(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    _write(tmp_path / "d" / "wide.png", a)
    with pytest.raises(InputError, match="not square"):
        ImageDataset(DatasetConfig(path=str(tmp_path / "d")))
    with pytest.raises(InputError, match="needs a target resolution"):
        DatasetConfig(path=str(tmp_path / "d"), resize_mode="resize")
    crop = ImageDataset(DatasetConfig(path=str(tmp_path / "d"), resolution=16, resize_mode="center-crop"))
    expected = np.asarray(PIL.Image.fromarray(a[:, 8:32]).resize((16, 16), PIL.Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(crop[0][0]["img"].permute(1, 2, 0).numpy(), expected)
    res = ImageDataset(DatasetConfig(path=str(tmp_path / "d"), resolution=16, resize_mode="resize"))
    expected = np.asarray(PIL.Image.fromarray(a).resize((16, 16), PIL.Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(res[0][0]["img"].permute(1, 2, 0).numpy(), expected)


def test_wrong_sizes_and_unreadable_are_listed(tmp_path):
    root = tmp_path / "mixed"
    for i, a in enumerate(_images(3, 16, 1)):
        _write(root / f"ok{i}.png", a)
    for i in range(22):
        _write(root / f"big{i:02d}.png", np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError) as err:
        ImageDataset(DatasetConfig(path=str(root), resolution=16))
    msg = str(err.value)
    assert "not 16x16" in msg and "(22)" in msg and "big00.png (32x32)" in msg and "and 2 more" in msg
    (root / "broken.png").write_bytes(b"\x89PNG garbage")
    (root / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError) as err:
        ImageDataset(DatasetConfig(path=str(root), resolution=16))
    assert "unreadable images" in str(err.value) and "broken.png" in str(err.value) and "empty.jpg" in str(err.value)
    with pytest.raises(InputError, match="power of two"):
        _write(tmp_path / "odd" / "a.png", np.zeros((12, 12), np.uint8))
        ImageDataset(DatasetConfig(path=str(tmp_path / "odd")))
    with pytest.raises(InputError, match="neither a folder nor"):
        ImageDataset(DatasetConfig(path=str(tmp_path / "missing")))


def test_labels_json_and_csv_one_hot(gray_dir, tmp_path):
    root, _ = gray_dir
    labels = {"labels": [[f"sub{i % 2}/{i:03d}.png", i % 3] for i in range(5)]}
    (root / "dataset.json").write_text(json.dumps(labels))
    ds = ImageDataset(DatasetConfig(path=str(root), labels="dataset.json"))  # found inside the dataset
    assert ds.c_dim == 3
    # keys sorted: 000 (0), 002 (2), 004 (1), 001 (1), 003 (0)
    assert torch.stack([ds[i][1] for i in range(5)]).argmax(1).tolist() == [0, 2, 1, 1, 0]
    assert ds[1][1].tolist() == [0.0, 0.0, 1.0]
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,label\n" + "".join(f"sub{i % 2}/{i:03d},{4 - i}\n" for i in range(5)))
    ds = ImageDataset(DatasetConfig(path=str(root), labels=str(csv_path)))
    assert ds.c_dim == 5 and ds.get_label(0).argmax().item() == 4
    csv_path.write_text("sub0/000.png,1\n")
    with pytest.raises(InputError, match=r"without a label.*\(4\)"):
        ImageDataset(DatasetConfig(path=str(root), labels=str(csv_path)))


def test_xflip_doubles_and_max_size_subset(gray_dir):
    root, _ = gray_dir
    ds = ImageDataset(DatasetConfig(path=str(root), xflip=True))
    assert len(ds) == 10
    torch.testing.assert_close(ds[7][0]["img"], ds[2][0]["img"].flip(-1), rtol=0, atol=0)
    sub = ImageDataset(DatasetConfig(path=str(root), max_size=3, xflip=True))
    again = ImageDataset(DatasetConfig(path=str(root), max_size=3))
    assert len(sub) == 6 and len(again) == 3
    picked = [sub[i][0]["img"] for i in range(3)]
    for a, b in zip(picked, [again[i][0]["img"] for i in range(3)]):
        assert torch.equal(a, b)
    full = [ds[i][0]["img"] for i in range(5)]
    assert all(any(torch.equal(p, f) for f in full) for p in picked)


def _paired(root, names, size=16):
    rgb = _images(len(names), size, 3, seed=3)
    for name, a in zip(names, rgb):
        _write(root / "rgb" / f"{name}.png", a)
        _write(root / "nir" / f"{name}.jpg" if name == "b" else root / "nir" / f"{name}.png", a[:, :, 1].copy())
    return rgb


def test_paired_branches_matched_by_name(tmp_path):
    root = tmp_path / "pairs"
    rgb = _paired(root, ["c", "a", "b"])
    ds = ImageDataset(DatasetConfig(path=str(root), branches=(("rgb", 3), ("nir", 1))))
    assert ds.keys == ["a", "b", "c"] and ds.branches == (("rgb", 3), ("nir", 1))
    images, _ = ds[0]
    assert images["rgb"].shape == (3, 16, 16) and images["nir"].shape == (1, 16, 16)
    np.testing.assert_array_equal(images["rgb"].permute(1, 2, 0).numpy(), rgb[1])
    np.testing.assert_array_equal(images["nir"][0].numpy(), rgb[1][:, :, 1])


def test_paired_branch_errors_list_files(tmp_path):
    root = tmp_path / "pairs"
    _paired(root, ["a", "c"])
    _write(root / "rgb" / "only_rgb.png", np.zeros((16, 16, 3), np.uint8))
    _write(root / "nir" / "only_nir.png", np.zeros((16, 16), np.uint8))
    cfg = DatasetConfig(path=str(root), branches=(("rgb", 3), ("nir", 1)))
    with pytest.raises(InputError) as err:
        ImageDataset(cfg)
    msg = str(err.value)
    assert "unpaired" in msg and "rgb/only_rgb.png (no match in nir)" in msg and "nir/only_nir.png (no match in rgb)" in msg
    (root / "rgb" / "only_rgb.png").unlink()
    (root / "nir" / "only_nir.png").unlink()
    _write(root / "nir" / "c.png", np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError, match=r"nir/c.png \(32x32\)"):
        ImageDataset(cfg)


def _collect(loader, k):
    return [next(loader) for _ in range(k)]


def test_infinite_loader_deterministic_and_resumable(gray_dir):
    root, _ = gray_dir
    ds = ImageDataset(DatasetConfig(path=str(root), xflip=True))
    first = _collect(infinite_loader(ds, batch_size=3, seed=7), 8)  # 24 samples: 2.4 epochs
    again = _collect(infinite_loader(ds, batch_size=3, seed=7), 8)
    for (a, ca), (b, cb) in zip(first, again):
        assert torch.equal(a["img"], b["img"]) and torch.equal(ca, cb)
    assert first[0][0]["img"].shape == (3, 1, 16, 16) and first[0][1].shape == (3, 0)
    other = _collect(infinite_loader(ds, batch_size=3, seed=8), 8)
    assert not all(torch.equal(a[0]["img"], b[0]["img"]) for a, b in zip(first, other))
    # Every epoch visits every sample once.
    loader = infinite_loader(ds, batch_size=5, seed=7)
    assert sorted(loader.batch_indices(0) + loader.batch_indices(1)) == list(range(10))
    # Interrupt after 3 batches, resume from the saved state in a fresh loader.
    interrupted = infinite_loader(ds, batch_size=3, seed=7)
    _collect(interrupted, 3)
    state = interrupted.sampler_state()
    resumed = infinite_loader(ds, batch_size=3, seed=7)
    resumed.load_sampler_state(state)
    for (a, _), (b, _) in zip(_collect(resumed, 5), first[3:]):
        assert torch.equal(a["img"], b["img"])
    with pytest.raises(InputError, match="batch_size"):
        infinite_loader(ds, batch_size=4, seed=7).load_sampler_state(state)


def test_infinite_loader_workers_match_in_process(gray_dir):
    root, _ = gray_dir
    ds = ImageDataset(DatasetConfig(path=str(root)))
    inline = _collect(infinite_loader(ds, batch_size=2, seed=1, start_batch=4), 3)
    workers = _collect(infinite_loader(ds, batch_size=2, seed=1, start_batch=4, num_workers=1), 3)
    for (a, _), (b, _) in zip(inline, workers):
        assert torch.equal(a["img"], b["img"])


def test_rank_shards_are_disjoint(gray_dir):
    root, _ = gray_dir
    ds = ImageDataset(DatasetConfig(path=str(root), xflip=True))  # 10 samples
    loaders = [infinite_loader(ds, batch_size=1, seed=3, rank=r, world_size=2) for r in range(2)]
    for b in range(0, 10, 5):
        shards = [sum((ld.batch_indices(k) for k in range(b, b + 5)), []) for ld in loaders]
        assert not set(shards[0]) & set(shards[1])
        assert sorted(shards[0] + shards[1]) == list(range(10))
    with pytest.raises(InputError, match="rank"):
        infinite_loader(ds, batch_size=1, seed=3, rank=2, world_size=2)


def test_to_float_range():
    x = torch.tensor([0, 127, 255], dtype=torch.uint8)
    torch.testing.assert_close(to_float(x), torch.tensor([-1.0, 127 / 127.5 - 1, 1.0]))
