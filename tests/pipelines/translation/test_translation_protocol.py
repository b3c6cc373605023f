"""The identity protocol of `translate evaluate`: which pairs are genuine / impostor, and the system threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthbio.pipelines.translation.evaluate import identity_pairs, operating_point
from synthbio.pipelines.translation.layout import Pairs


def _pairs(tmp_path: Path) -> Pairs:
    # identities x (3 samples) and y (2 samples); one translation per source
    sources = ["x/0.png", "x/1.png", "x/2.png", "y/0.png", "y/1.png"]
    return Pairs(source_root=tmp_path / "src", translations=tmp_path / "out", direction="a2b", sources=sources,
                 labels=[s.split("/")[0] for s in sources], outputs=[[s] for s in sources])


def test_pairs_against_the_sources(tmp_path: Path) -> None:
    p = _pairs(tmp_path)
    sets = identity_pairs(p, None)
    src, out = tmp_path / "src", tmp_path / "out"
    # genuine: the other samples of the same identity, never the probe's own source
    assert sorted((a.relative_to(src).as_posix(), b.relative_to(src).as_posix()) for a, b in sets["gen_s"]) == [
        ("x/0.png", "x/1.png"), ("x/0.png", "x/2.png"), ("x/1.png", "x/0.png"), ("x/1.png", "x/2.png"),
        ("x/2.png", "x/0.png"), ("x/2.png", "x/1.png"), ("y/0.png", "y/1.png"), ("y/1.png", "y/0.png")]
    assert (out / "x/0.png", src / "x/1.png") in sets["gen_t"] and (out / "x/0.png", src / "x/0.png") not in sets["gen_t"]
    # impostor: the first sample of every other identity
    assert sorted((a.name, b.relative_to(src).as_posix()) for a, b in sets["imp_s"] if a.parent.name == "x") == [
        ("0.png", "y/0.png"), ("1.png", "y/0.png"), ("2.png", "y/0.png")]
    assert len(sets["imp_t"]) == len(sets["imp_s"]) == 5


def test_pairs_against_another_gallery(tmp_path: Path) -> None:
    p = _pairs(tmp_path)
    gallery = [(tmp_path / "g/x/a.png", "x"), (tmp_path / "g/y/a.png", "y"), (tmp_path / "g/y/b.png", "y")]
    sets = identity_pairs(p, gallery)
    assert len(sets["gen_s"]) == 3 * 1 + 2 * 2  # every gallery sample of the identity counts
    assert all(b.parent.name == "y" for a, b in sets["imp_s"] if a.parent.name == "x")


def test_system_threshold_comes_from_untranslated_impostors() -> None:
    rng = np.random.default_rng(0)
    imp_source = rng.normal(10, 3, 2000)
    gen_source = rng.normal(40, 5, 300)
    gen_translated = gen_source - 22
    imp_translated = imp_source + 2
    op = operating_point({"translated": gen_translated, "source": gen_source},
                         {"translated": imp_translated, "source": imp_source}, target_fmr=0.001, fallback=40.0)
    t = op["threshold"]
    assert np.mean(imp_source >= t) <= 0.001 and "FMR 0.1%" in op["threshold_from"]
    assert op["gar_source"] == np.mean(gen_source >= t) and op["gar_translated"] == np.mean(gen_translated >= t)
    assert op["gar_ratio"] == op["gar_translated"] / op["gar_source"] < 1
    assert op["fmr_translated"] == np.mean(imp_translated >= t)
    few = operating_point({"translated": gen_translated, "source": gen_source},
                          {"translated": imp_translated[:10], "source": imp_source[:10]}, target_fmr=0.001,
                          fallback=40.0)
    assert few["threshold"] == 40.0 and "only 10 untranslated impostor scores" in few["threshold_from"]
