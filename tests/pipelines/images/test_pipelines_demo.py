import torch

from synthbio.checkpoints import load_generator, model_hash
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.pipelines.images.demo import build_demo_generator, run_demo


def test_demo_generator_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = build_demo_generator(), build_demo_generator()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert model_hash(a) == model_hash(b)
    assert model_hash(build_demo_generator(seed=1)) != model_hash(a)


def test_run_demo_writes_a_complete_dataset(tmp_path):
    res = run_demo(tmp_path, num_seeds=4)
    gen = res.generation
    assert gen.generated == [0, 1, 2, 3]
    assert model_hash(load_generator(res.model_dir)) == gen.model_sha256 == model_hash(build_demo_generator())
    assert len(read_manifest(gen.manifest).records) == 4
    assert len(read_samples(gen.samples)[1]) == 4
    assert {p.name for p in gen.grids} == {"grid_rgb.png", "grid_nir.png"}
    again = run_demo(tmp_path, num_seeds=4)  # re-running resumes: nothing to redo
    assert again.generation.generated == [] and again.generation.kept == [0, 1, 2, 3]
