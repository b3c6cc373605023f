import hashlib
import os

import pytest
import torch

from synthbio.utils import hashing
from synthbio.utils.hashing import atomic_write_bytes, module_sha256, sha256_bytes, sha256_file


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 << 20)  # spans several read chunks
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest() == sha256_bytes(data)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_bytes(p, b"old")
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "a.txt"
    atomic_write_bytes(p, b"old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(hashing.os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]


def test_module_hash_names_the_weights():
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3)
    b = torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    assert module_sha256(a) == module_sha256(b)
    assert module_sha256(a, header={"k": 1}) != module_sha256(a, header={"k": 2})
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert module_sha256(a) != module_sha256(b)


def test_atomic_write_gives_an_ordinary_file_mode(tmp_path):
    # mkstemp files are private (0600); results must get the umask's normal mode.
    umask = os.umask(0o022)
    try:
        hashing._FILE_MODE = None  # recompute under the umask set here
        target = tmp_path / "out.bin"
        hashing.atomic_write_bytes(target, b"data")
        assert (target.stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(umask)
        hashing._FILE_MODE = None


def test_safetensors_written_atomically_get_an_ordinary_mode(tmp_path):
    # safetensors' save_file replaces the temporary file with a private (0600) one of its own.
    import torch
    from safetensors.torch import save_file

    umask = os.umask(0o022)
    try:
        hashing._FILE_MODE = None
        target = tmp_path / "model.safetensors"
        hashing.atomic_write(target, lambda tmp: save_file({"w": torch.zeros(2)}, str(tmp)))
        assert (target.stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(umask)
        hashing._FILE_MODE = None
