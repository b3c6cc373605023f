import json

import numpy as np
import PIL.Image
import pytest

from synthbio.errors import InputError
from synthbio.segmentation.annotations import (
    read_annotation,
    write_annotation_png,
    write_index_png,
)
from synthbio.segmentation.classes import (
    EYE_CLASSES,
    FINGERPRINT_CLASSES,
    MaskClass,
    classes_from_names,
    colour_mask,
    read_classes,
    resolve_classes,
    write_classes,
)

CLASSES = EYE_CLASSES  # skin black, sclera white, iris green, pupil blue


def _labels(h=6, w=8):
    lab = np.zeros([h, w], dtype=np.uint8)
    lab[1:5, 2:7] = 1
    lab[2:4, 3:6] = 2
    lab[3, 4] = 3
    return lab


def test_palette_png_round_trip_and_reads_as_index(tmp_path):
    lab = _labels()
    write_annotation_png(tmp_path / "a.png", lab, CLASSES)
    with PIL.Image.open(tmp_path / "a.png") as img:
        assert img.mode == "P"
        assert np.array_equal(np.asarray(img), lab)  # the raw indices are the classes
    assert np.array_equal(read_annotation(tmp_path / "a.png", CLASSES, height=6, width=8), lab)


def test_reordered_palette_still_maps_through_colours(tmp_path):
    lab = _labels()
    img = PIL.Image.fromarray((3 - lab).astype(np.uint8), "P")  # indices reversed, palette reversed with them
    img.putpalette([c for k in reversed(CLASSES) for c in k.color])
    img.save(tmp_path / "r.png")
    assert np.array_equal(read_annotation(tmp_path / "r.png", CLASSES, height=6, width=8), lab)


def test_grey_index_png_with_not_annotated_pixels(tmp_path):
    lab = _labels()
    lab[0, 0] = 255
    write_index_png(tmp_path / "g.png", lab)
    got = read_annotation(tmp_path / "g.png", CLASSES, height=6, width=8)
    assert np.array_equal(got, lab)


def test_colour_png_as_gimp_exports_it(tmp_path):
    lab = _labels()
    PIL.Image.fromarray(colour_mask(lab, CLASSES)).save(tmp_path / "c.png")
    assert np.array_equal(read_annotation(tmp_path / "c.png", CLASSES, height=6, width=8), lab)
    rgba = np.concatenate([colour_mask(lab, CLASSES), np.full([6, 8, 1], 255, np.uint8)], axis=2)
    rgba[0, :, 3] = 0  # erased: not annotated
    PIL.Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    got = read_annotation(tmp_path / "t.png", CLASSES, height=6, width=8)
    assert (got[0] == 255).all() and np.array_equal(got[1:], lab[1:])


def test_npy_annotation(tmp_path):
    lab = _labels().astype(np.int32)
    np.save(tmp_path / "n.npy", lab)
    assert np.array_equal(read_annotation(tmp_path / "n.npy", CLASSES, height=6, width=8), lab)


def test_wrong_size_names_the_file_and_both_sizes(tmp_path):
    write_index_png(tmp_path / "s.png", np.zeros([5, 9], np.uint8))
    with pytest.raises(InputError, match=r"s\.png is 9x5 pixels, its sample is 8x6"):
        read_annotation(tmp_path / "s.png", CLASSES, height=6, width=8)


def test_unknown_index_values_are_listed(tmp_path):
    lab = _labels()
    lab[0, :3] = 7
    lab[5, 0] = 12
    write_index_png(tmp_path / "v.png", lab)
    with pytest.raises(InputError, match=r"v\.png holds pixel values 7 \(3 px\), 12 \(1 px\).*4 classes are 0-3"):
        read_annotation(tmp_path / "v.png", CLASSES, height=6, width=8)
    np.save(tmp_path / "v.npy", lab.astype(np.int64) - 20)
    with pytest.raises(InputError, match=r"v\.npy holds pixel values -20"):
        read_annotation(tmp_path / "v.npy", CLASSES, height=6, width=8)
    np.save(tmp_path / "f.npy", lab.astype(np.float32))
    with pytest.raises(InputError, match="float32 values"):
        read_annotation(tmp_path / "f.npy", CLASSES, height=6, width=8)


def test_unknown_colours_are_listed_and_tolerance_snaps_them(tmp_path):
    rgb = colour_mask(_labels(), CLASSES)
    rgb[0, 0] = (250, 0, 250)
    rgb[0, 1] = (58, 183, 77)  # an antialiased iris green
    PIL.Image.fromarray(rgb).save(tmp_path / "u.png")
    with pytest.raises(InputError, match=r"u\.png holds colours that are no class: .*skin #000000.*pencil") as err:
        read_annotation(tmp_path / "u.png", CLASSES, height=6, width=8)
    assert "#fa00fa (1 px)" in str(err.value) and "#3ab74d (1 px)" in str(err.value)
    rgb[0, 0] = (0, 0, 0)
    PIL.Image.fromarray(rgb).save(tmp_path / "u.png")
    got = read_annotation(tmp_path / "u.png", CLASSES, height=6, width=8, tolerance=5)
    assert got[0, 1] == 2


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read image .*x.png"):
        read_annotation(tmp_path / "x.png", CLASSES, height=6, width=8)
    with pytest.raises(InputError, match="does not exist"):
        read_annotation(tmp_path / "missing.png", CLASSES, height=6, width=8)
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="neither .png nor .npy"):
        read_annotation(tmp_path / "x.jpg", CLASSES, height=6, width=8)


def test_class_lists(tmp_path):
    assert resolve_classes("fingerprint") == FINGERPRINT_CLASSES
    named = resolve_classes("background,hair,skin")
    assert [c.name for c in named] == ["background", "hair", "skin"]
    assert len({c.color for c in named}) == 3 and named[0].color == (0, 0, 0)
    write_classes(tmp_path / "classes.json", named)
    assert read_classes(tmp_path / "classes.json") == named
    (tmp_path / "hex.json").write_text(json.dumps([{"name": "bg", "color": "#000000"}, {"name": "fg", "color": "#ff8000"}]))
    assert read_classes(tmp_path / "hex.json")[1] == MaskClass("fg", (255, 128, 0))
    (tmp_path / "dup.json").write_text(json.dumps([{"name": "a", "color": [1, 2, 3]}, {"name": "b", "color": [1, 2, 3]}]))
    with pytest.raises(InputError, match="dup.json: classes a, b share a colour"):
        read_classes(tmp_path / "dup.json")
    with pytest.raises(InputError, match="at least 2 classes"):
        classes_from_names(["only"])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="cannot read class file"):
        read_classes(tmp_path / "bad.json")


def test_hostile_annotation_files_name_the_file_without_unsafe_advice(tmp_path):
    """Empty, object and forged .npy files and a PNG declaring 225 megapixels: one InputError each, decided
    before anything large is allocated, and never numpy's advice to allow pickles."""
    import struct
    import zlib

    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += " " * (118 - len(header)) + "\n"
    (tmp_path / "forged.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 15000, 15000, 8,
                                                                                          0, 0, 0, 0))
                                        + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    for name, message in [("empty.npy", "cannot read annotation"), ("object.npy", "Python objects"),
                          ("forged.npy", "header declares"), ("bomb.png", "refused before decoding")]:
        with pytest.raises(InputError, match=message) as info:
            read_annotation(tmp_path / name, CLASSES, height=6, width=8)
        assert str(tmp_path / name) in str(info.value) and "allow_pickle" not in str(info.value)
