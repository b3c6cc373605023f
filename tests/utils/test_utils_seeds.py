import numpy as np
import pytest
import torch

from synthbio.errors import InputError
from synthbio.utils.seeds import MAX_SEED, generators_from_seeds, parse_seeds, z_from_seed, z_from_seeds


def test_parse_seeds_ranges_and_lists():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds(" 5 ") == [5]
    assert parse_seeds("85,265,297,849") == [85, 265, 297, 849]
    assert parse_seeds("3-3") == [3]
    assert parse_seeds(f"{MAX_SEED}") == [MAX_SEED]


def test_parse_seeds_keeps_first_of_repeats():
    assert parse_seeds("1,1,0-2") == [1, 0, 2]


@pytest.mark.parametrize("spec", ["", "  ", "1-", "a", "5-2", "-3", "1,,2", "1.5", "0x10", f"{MAX_SEED + 1}", "2-99999999999"])
def test_parse_seeds_rejects_malformed(spec):
    with pytest.raises(InputError) as err:
        parse_seeds(spec)
    assert "seed" in str(err.value)


def test_z_matches_official_numpy_convention():
    # Reference values of numpy's legacy RandomState(0) normal stream.
    ref = [1.76405235, 0.40015721, 0.97873798, 2.2408932]
    np.testing.assert_allclose(z_from_seed(0, 4)[0], ref, rtol=1e-7)
    z = z_from_seed(123, 512)
    assert z.shape == (1, 512) and z.dtype == np.float64
    np.testing.assert_array_equal(z, np.random.RandomState(123).randn(1, 512))


def test_z_rows_do_not_depend_on_the_batch():
    a = z_from_seeds([3, 5, 9], 16)
    b = z_from_seeds([5], 16)
    assert a.dtype == torch.float32 and a.shape == (3, 16)
    assert torch.equal(a[1], b[0])
    assert z_from_seeds([], 16).shape == (0, 16)


def test_z_rejects_bad_seed():
    with pytest.raises(InputError):
        z_from_seed(-1, 4)
    with pytest.raises(InputError):
        z_from_seed(MAX_SEED + 1, 4)


def test_generators_are_seeded_per_sample():
    g1 = generators_from_seeds([7, 8])
    g2 = generators_from_seeds([8])
    x = torch.randn(5, generator=g1[1])
    y = torch.randn(5, generator=g2[0])
    assert torch.equal(x, y)
    assert not torch.equal(torch.randn(5, generator=g1[0]), x)
