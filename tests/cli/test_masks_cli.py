"""`synthbio masks export | train | generate | merge | evaluate` as a user runs them: the whole path,
--dry-run, --json, and exit code 2 with one line naming the bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines" / "masks"))  # masks_job_helpers

from masks_job_helpers import paint_planted, tiny_generator  # noqa: E402

from synthbio.checkpoints import save_generator  # noqa: E402
from synthbio.io.derived import derived_info  # noqa: E402
from synthbio.segmentation.annotations import write_index_png  # noqa: E402

FAST = ["--members", "2", "--pixels-per-image", "256", "--batch-size", "64", "--epochs", "2"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    G = tiny_generator()
    path = tmp_path_factory.mktemp("masks_cli") / "G"
    save_generator(G, path)
    return path, G


def test_export_paint_train_generate_evaluate(model, tmp_path, run_cli, one_thread):
    path, G = model
    code, out, err = run_cli("masks", "export", "-m", str(path), "--seeds", "0-2", "--classes", "bg,a,b",
                             "-o", str(tmp_path / "ann"), "--device", "cpu")
    assert code == 0, err  # the result on stdout, the hint and progress lines (not a terminal) on stderr
    assert out.startswith("3 samples exported") and f"synthbio masks train {tmp_path / 'ann'}" in err
    assert "[progress] samples to annotate: 3/3" in err
    paint_planted(tmp_path / "ann", G)
    code, out, err = run_cli("masks", "train", str(tmp_path / "ann"), "-o", str(tmp_path / "clf"), "--folds", "3",
                             "--device", "cpu", "--json", *FAST)
    assert code == 0, err
    result = json.loads(out)
    assert result["annotated"] == [0, 1, 2] and result["validation"]["method"] == "3-fold cross-validation"
    assert set(result["validation"]["iou"]) == {"bg", "a", "b"} and "epoch 1:" in err

    code, out, err = run_cli("masks", "generate", str(tmp_path / "clf"), "--seeds", "5-8", "-o",
                             str(tmp_path / "gen"), "--drop-uncertain", "0.25", "--device", "cpu", "--json")
    assert code == 0, err
    gen = json.loads(out)
    assert gen["generated"] == [5, 6, 7, 8] and len(gen["dropped"]) == 1
    assert len(list((tmp_path / "gen" / "masks").glob("seed*_mask.png"))) == 3
    assert "[progress] samples with masks: 4/4" in err
    code, out, err = run_cli("masks", "generate", str(tmp_path / "clf"), "--seeds", "5-8", "-o",
                             str(tmp_path / "gen"), "--drop-uncertain", "0.25", "--device", "cpu")
    assert code == 0 and out.startswith("0 samples generated, 4 already done"), err
    # what the folder holds; the masks beside the images and the dropped samples are no training or FID images
    code, out, err = run_cli("info", str(tmp_path / "gen"), str(tmp_path / "ann"), str(tmp_path / "clf"), "--json")
    gen_info, ann_info, clf_info = json.loads(out)
    branches = len(G.branch_names)
    assert (gen_info["command"], gen_info["done"], gen_info["wanted"], gen_info["dropped"]) == (
        "masks generate", 4, 4, 1)
    assert gen_info["holds"] == {"images": 3 * branches, "mask previews": 3, "masks": 3, "latent files": 1,
                                 "grids": 1, "derived (not data) folders": 1}
    assert (ann_info["command"], ann_info["annotated"]) == ("masks export", 3)
    from synthbio.pipelines.common.folder_info import describe_folder

    dropped = describe_folder(tmp_path / "gen" / "dropped")
    assert (dropped["kind"], dropped["files"]) == ("set-aside samples", 2 + branches)  # mask, preview, images
    assert (clf_info["kind"], clf_info["classes"], clf_info["trained_on"]) == ("mask classifier", ["bg", "a", "b"], 3)
    from synthbio.metrics.fid import list_images
    from synthbio.training.data import DatasetConfig, ImageDataset

    assert len(list_images(tmp_path / "gen")) == 3 * branches
    assert len(ImageDataset(DatasetConfig(path=str(tmp_path / "gen" / "rgb" if branches > 1 else tmp_path / "gen")))
               .keys) == 3

    code, out, err = run_cli("masks", "export", "-m", str(path), "--seeds", "30,31", "--classes",
                             str(tmp_path / "ann" / "classes.json"), "-o", str(tmp_path / "test"), "--device", "cpu")
    assert code == 0, err
    paint_planted(tmp_path / "test", G)
    code, out, err = run_cli("masks", "evaluate", str(tmp_path / "clf"), str(tmp_path / "test"), "--device", "cpu")
    assert code == 0, err
    assert out.startswith("mIoU") and str(tmp_path / "test_report" / "index.html") in out
    assert derived_info(tmp_path / "test_report")["command"] == "masks evaluate"  # a report, never data


def test_dry_run_writes_nothing_and_bad_input_exits_2(model, tmp_path, run_cli):
    path, _ = model
    code, out, _ = run_cli("masks", "export", "-m", str(path), "--seeds", "0-3", "--classes", "eye",
                           "-o", str(tmp_path / "ann"), "--dry-run")
    assert code == 0 and json.loads(out)["num_seeds"] == 4 and not (tmp_path / "ann").exists()
    for args, message in [
        (("export", "-m", str(path), "--seeds", "5-2", "--classes", "a,b", "-o", str(tmp_path / "x")), "5-2"),
        (("export", "-m", str(path), "--seeds", "1", "--classes", "justone", "-o", str(tmp_path / "x")),
         "at least two names"),
        (("export", "-m", str(path), "--seeds", "1", "--classes", str(tmp_path / "none.json"), "-o",
          str(tmp_path / "x")), "none.json' does not exist"),
        (("train", str(tmp_path / "nothing"), "-o", str(tmp_path / "c")), "has no config.json"),
        (("generate", str(tmp_path / "nothing"), "--seeds", "0", "-o", str(tmp_path / "g")), "no config.json"),
        (("generate", str(tmp_path), "--seeds", "0", "-o", str(tmp_path / "g"), "--drop-uncertain", "1"),
         "--drop-uncertain must be in [0, 1)"),
        (("generate", str(tmp_path), "--seeds", "0", "-o", str(tmp_path / "g"), "--shard", "2/2"), "shard '2/2'"),
    ]:
        code, out, err = run_cli("masks", *args)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)


def test_a_bad_annotation_names_the_file_and_the_values(model, tmp_path, run_cli, one_thread):
    path, G = model
    assert run_cli("masks", "export", "-m", str(path), "--seeds", "0,1", "--classes", "bg,a,b", "-o",
                   str(tmp_path / "ann"), "--device", "cpu")[0] == 0
    paint_planted(tmp_path / "ann", G)
    bad = np.ones([32, 32], dtype=np.uint8)
    bad[0, :4] = 9
    write_index_png(tmp_path / "ann" / "seed0001_annotation.png", bad)
    code, _, err = run_cli("masks", "train", str(tmp_path / "ann"), "-o", str(tmp_path / "clf"), *FAST)
    assert code == 2
    assert "seed0001_annotation.png holds pixel values 9 (4 px) that are no class" in err and "Traceback" not in err
    assert not (tmp_path / "clf").exists()
