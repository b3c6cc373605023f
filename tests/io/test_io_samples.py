import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.io.samples import SampleLatents, read_samples, write_samples


def _sample(identity, label="reference", seed=0):
    rng = np.random.default_rng(identity)
    return SampleLatents(identity=identity, label=label, z=rng.standard_normal(8), w=rng.standard_normal(6),
                         w_plus=rng.standard_normal((4, 6)), attrs={"seed": seed, "class_idx": None})


def test_round_trip_layout(tmp_path):
    import h5py

    p = tmp_path / "samples.h5"
    samples = [_sample(3, seed=3), _sample(12, seed=12), _sample(3, "variation_0")]
    assert write_samples(p, samples, attrs={"generator_sha256": "abc", "truncation_cutoff": None}) == 3
    with h5py.File(p) as f:
        assert sorted(f.keys()) == ["00003", "00012"]
        assert f["00003/reference/z_latent"].shape == (1, 8)
        assert f["00003/reference/w_latent"].shape == (1, 6)
        assert f["00003/reference/w_plus_latent"].shape == (1, 4, 6)
        assert "truncation_cutoff" not in f.attrs
    attrs, back = read_samples(p)
    assert attrs["generator_sha256"] == "abc"
    by_key = {(s.identity, s.label): s for s in back}
    np.testing.assert_allclose(by_key[(12, "reference")].w_plus, samples[1].w_plus.astype(np.float32))
    assert by_key[(12, "reference")].attrs == {"seed": 12}


def test_duplicate_sample_keeps_previous_file(tmp_path):
    p = tmp_path / "samples.h5"
    write_samples(p, [_sample(1)], attrs={"run": "first"})
    with pytest.raises(InputError, match="twice"):
        write_samples(p, [_sample(2), _sample(2)], attrs={"run": "second"})
    attrs, back = read_samples(p)
    assert attrs["run"] == "first" and [s.identity for s in back] == [1]
    assert [x.name for x in tmp_path.iterdir()] == ["samples.h5"]


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError):
        write_samples(tmp_path / "s.h5", [_sample(1, label="a/b")])
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="junk.h5"):
        read_samples(tmp_path / "junk.h5")
