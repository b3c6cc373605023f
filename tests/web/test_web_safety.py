"""Path, host, token and upload checks of `synthbio serve` (synthbio.web.safety), without a server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthbio.web.safety import (
    AccessError,
    Roots,
    UploadError,
    check_content_type,
    host_allowed,
    image_kind,
    split_ref,
    template_kind,
)


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    served = tmp_path / "data"
    (served / "sub").mkdir(parents=True)
    (served / "sub" / "a.png").write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, served / "link_out.txt")
    os.symlink(tmp_path, served / "dir_out")
    os.symlink(served / "sub" / "a.png", served / "link_in.png")
    return Roots.from_folders([served])


def test_files_under_the_root_resolve(roots: Roots) -> None:
    assert roots.resolve("data/sub/a.png").name == "a.png"
    assert roots.resolve("data/link_in.png").name == "a.png"  # a link that stays inside is fine
    assert roots.resolve("data") == roots.paths["data"]


@pytest.mark.parametrize("ref", [
    "data/../secret.txt", "data/sub/../../secret.txt", "data/%2e%2e/secret.txt", "data/%252e%252e/secret.txt",
    "data/..%2fsecret.txt", "/etc/passwd", "data/sub\\..\\..\\secret.txt", "data/sub/./a.png", "data/a\x00.png",
    "C:/Windows", "%2Fetc%2Fpasswd",
])
def test_escapes_are_refused_before_the_disk(roots: Roots, ref: str) -> None:
    with pytest.raises(AccessError):
        roots.resolve(ref)


@pytest.mark.parametrize("ref", ["data/link_out.txt", "data/dir_out/secret.txt", "other/x", "data/missing.png"])
def test_symlinks_out_unknown_roots_and_missing_files_are_refused(roots: Roots, ref: str) -> None:
    with pytest.raises(AccessError):
        roots.resolve(ref)


def test_split_ref_and_clashing_root_names(tmp_path: Path) -> None:
    assert split_ref("r/a/b.png") == ("r", "a/b.png")
    (tmp_path / "x" / "out").mkdir(parents=True)
    (tmp_path / "y" / "out").mkdir(parents=True)
    r = Roots.from_folders([tmp_path / "x" / "out", tmp_path / "y" / "out"])
    assert list(r.paths) == ["out", "out-2"]
    with pytest.raises(Exception, match="not a folder"):
        Roots.from_folders([tmp_path / "nope"])


def test_host_header_check() -> None:
    allowed = {"127.0.0.1", "localhost", "::1", "[::1]"}
    assert host_allowed("127.0.0.1:8000", allowed)
    assert host_allowed("localhost", allowed)
    assert host_allowed("[::1]:8000", allowed)
    assert not host_allowed("evil.example:8000", allowed)  # DNS rebinding
    assert not host_allowed(None, allowed)


def test_upload_checks() -> None:
    assert check_content_type("application/octet-stream", ["application/octet-stream"]) == "application/octet-stream"
    with pytest.raises(UploadError) as e:
        check_content_type("text/html; charset=utf-8", ["application/octet-stream"])
    assert e.value.status == 415
    assert template_kind(b"FMR\x00 20\x00....", "a.iso") == "iso19794-2"
    assert template_kind(b"FMR\x00 20\x00....", "a.ansi") == "ansi378"
    assert template_kind(b'{"format": "synthbio.minutiae_template"}', "t.json") == "json"
    assert template_kind(b"10 20 30 40\n11 21 31 41\n", "t.xyt") == "xyt"
    for bad in (b"<html><script>alert(1)</script>", b'{"a": 1}', b"\xff\xfe\x00garbage", b"1 2\n"):
        with pytest.raises(UploadError) as e:
            template_kind(bad, "x.iso")
        assert e.value.status == 400
    with pytest.raises(UploadError):
        image_kind(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    with pytest.raises(UploadError):
        image_kind(b"GIF89a")
