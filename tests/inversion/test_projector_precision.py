"""Projector precision option: bf16 autocast for the loss networks only, deterministic, as good as float32."""

import json

import pytest
import torch

from synthbio.errors import InputError
from synthbio.inversion.losses import VGGPerceptualLoss, ms_ssim, orientation_field
from synthbio.inversion.projector import ProjectorConfig, loss_autocast, project, synthesize_with_noise
from synthbio.nn.vgg import VGG16Features

FAST = dict(w_avg_samples=1000, num_steps=60)
NATIVE_BF16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16 (AVX512-BF16/AMX); "
                                "test_cpu_without_bf16_is_refused covers it")


pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture(scope="module")
def loss():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return VGGPerceptualLoss(VGG16Features(widths=(8, 16, 16, 32, 32)))


@pytest.fixture(scope="module")
def target(G):
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return G.synthesis(G.mapping(z, None), noise_mode="const")


def _run(G, target, loss, precision):
    return project(G, target, config=ProjectorConfig(precision=precision, **FAST), loss=loss, progress=False,
                   generator=torch.Generator().manual_seed(1))


def _fp32_distance(G, loss, result, target) -> float:
    with torch.no_grad():
        image = synthesize_with_noise(G, result.ws, list(result.noise.values()))
        return float(loss.distance(image, target))


@needs_bf16
def test_bf16_projection_is_deterministic_reduces_loss_and_matches_fp32(G, target, loss):
    a = _run(G, target, loss, "bfloat16")
    b = _run(G, target, loss, "bfloat16")
    assert torch.equal(a.ws, b.ws) and torch.equal(a.losses, b.losses)
    assert all(torch.equal(a.noise[k], b.noise[k]) for k in a.noise)
    assert a.ws.dtype == torch.float32 and a.losses.dtype == torch.float32
    assert float(a.losses[-1, 0]) < 0.5 * float(a.losses[0, 0])
    ref = _run(G, target, loss, "float32")
    assert not torch.equal(a.ws, ref.ws)  # the option does change the computation
    # Same start (w_avg): the first losses differ by bf16 rounding of the VGG only.
    assert float(a.losses[0, 0]) == pytest.approx(float(ref.losses[0, 0]), rel=0.05)
    # Rendered in float32 and scored in float32, both results are about as close to the target.
    d_bf16, d_fp32 = _fp32_distance(G, loss, a, target), _fp32_distance(G, loss, ref, target)
    assert d_bf16 == pytest.approx(d_fp32, rel=0.1)
    assert d_bf16 < 0.5 * float(ref.losses[0, 0])


@needs_bf16
def test_bf16_leaves_G_and_parameters_float32(G, target, loss):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    seen = []
    project(G, target, config=ProjectorConfig(precision="bfloat16", w_avg_samples=1000, num_steps=2), loss=loss,
            progress=False, callback=lambda step, losses: seen.append(losses.dtype))
    assert seen == [torch.float32, torch.float32]
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert all(p.dtype == torch.float32 for p in loss.parameters())


def test_bad_precision_name_is_refused():
    with pytest.raises(InputError, match="precision.*float16"):
        ProjectorConfig(precision="float16")
    assert ProjectorConfig().precision == "float32"


def test_device_without_bf16_is_refused():
    with pytest.raises(InputError, match="'meta'"):
        loss_autocast("bfloat16", torch.device("meta"))


@pytest.mark.skipif(NATIVE_BF16, reason="this CPU has native bf16; the bf16 tests above cover it")
def test_cpu_without_bf16_is_refused(G, target, loss):
    with pytest.raises(InputError, match="bfloat16"):
        _run(G, target, loss, "bfloat16")


def test_statistics_losses_stay_float32_under_autocast():
    """MS-SSIM and orientation filtering keep float32 inside a bf16 loss pass (variances need it)."""
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand([2, 1, 32, 32], generator=g) * 2 - 1, torch.rand([2, 1, 32, 32], generator=g) * 2 - 1
    ref_ssim, ref_of = ms_ssim(x, y), orientation_field(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got_ssim, got_of = ms_ssim(x, y), orientation_field(x)
    assert got_ssim.dtype == torch.float32 and torch.equal(got_ssim, ref_ssim)
    assert all(torch.equal(a, b) for a, b in zip(_flat(got_of), _flat(ref_of)))


def _flat(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def test_cli_precision_option(G, tmp_path, run_cli):
    from synthbio.checkpoints import save_generator

    save_generator(G, tmp_path / "model")
    args = ("project", str(tmp_path / "t.png"), "--model", str(tmp_path / "model"), "--outdir", str(tmp_path / "o"))
    code, out, err = run_cli(*args, "--precision", "bfloat16", "--dry-run")
    assert code == 0, err
    assert json.loads(out)["projector"]["precision"] == "bfloat16"
    code, _, err = run_cli(*args, "--precision", "half", "--dry-run")
    assert code == 2 and "precision" in err and "'half'" in err
