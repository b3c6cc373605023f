"""MTCNN: synthbio's cascade against facenet-pytorch's own MTCNN on real photos (same published weights).

    SYNTHBIO_REF_FACENET=/path/to/unpacked/facenet_pytorch-2.6.0-wheel \
    SYNTHBIO_FACE_PHOTOS=/path/to/face_recognition-1.3.0/tests/test_images \
    python bench/mtcnn_agreement.py [--repeats 3] [--threads 1]

The reference is imported from the unpacked wheel (its `facenet_pytorch`
package); torchvision, which it imports for `batched_nms` and `to_tensor`
only, has no CPU build here, so a small numpy stand-in defined below takes
its place (greedy NMS, independent of synthbio's); tqdm likewise when absent. Photos: every image in
SYNTHBIO_FACE_PHOTOS plus scikit-image's `astronaut` when scikit-image is
installed. For each photo: faces found by each, and for faces matched by IoU
>= 0.5 the largest box-corner, landmark and score differences; per-image time
as the median of interleaved runs (reference, ours, reference, ...).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _numpy_nms(b: np.ndarray, s: np.ndarray, thr: float) -> list[int]:
    order = list(np.argsort(-s, kind="stable"))
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    keep = []
    while order:
        i, rest = order[0], np.array(order[1:], dtype=np.int64)
        keep.append(int(i))
        if not len(rest):
            break
        w = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        h = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        iou = w * h / (area[i] + area[rest] - w * h)
        order = list(rest[iou <= thr])
    return keep


def _batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, thr: float) -> torch.Tensor:
    b, s, g = boxes.double().numpy(), scores.double().numpy(), idxs.numpy()
    keep: list[int] = []
    for gi in np.unique(g):
        sel = np.nonzero(g == gi)[0]
        keep += [int(sel[k]) for k in _numpy_nms(b[sel], s[sel], thr)]
    keep_arr = np.array(keep, dtype=np.int64)
    return torch.as_tensor(keep_arr[np.argsort(-s[keep_arr], kind="stable")] if len(keep_arr) else keep_arr)


def _install_stand_ins() -> None:
    """torchvision (see the module doc) and, where absent, tqdm (the reference's download helper imports it)."""
    names = ["torchvision", "torchvision.ops", "torchvision.ops.boxes", "torchvision.transforms",
             "torchvision.transforms.functional"]
    try:
        import tqdm  # noqa: F401
    except ImportError:
        names += ["tqdm", "tqdm.auto"]
    mods = {n: types.ModuleType(n) for n in names}
    if "tqdm" in mods:
        mods["tqdm"].tqdm = mods["tqdm.auto"].tqdm = object
        mods["tqdm"].auto = mods["tqdm.auto"]
    mods["torchvision.ops.boxes"].batched_nms = _batched_nms
    mods["torchvision.ops"].boxes = mods["torchvision.ops.boxes"]
    mods["torchvision.transforms.functional"].to_tensor = (
        lambda a: torch.as_tensor(np.asarray(a)).permute(2, 0, 1).float() / 255)
    mods["torchvision.transforms"].functional = mods["torchvision.transforms.functional"]
    mods["torchvision"].ops, mods["torchvision"].transforms = mods["torchvision.ops"], mods["torchvision.transforms"]
    sys.modules.update(mods)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def _photos() -> list[tuple[str, np.ndarray]]:
    out = []
    folder = os.environ.get("SYNTHBIO_FACE_PHOTOS")
    if folder:
        for p in sorted(Path(folder).iterdir()):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
                out.append((p.name, np.array(Image.open(p).convert("RGB"))))
    try:
        from skimage import data

        out.append(("skimage-astronaut", np.asarray(data.astronaut())))
    except ImportError:
        pass
    if not out:
        raise SystemExit("no photos: set SYNTHBIO_FACE_PHOTOS (and/or install scikit-image)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    ref_dir = os.environ.get("SYNTHBIO_REF_FACENET")
    if not ref_dir:
        raise SystemExit("set SYNTHBIO_REF_FACENET to an unpacked facenet-pytorch wheel")
    torch.set_num_threads(args.threads)
    _install_stand_ins()
    sys.path.insert(0, ref_dir)
    from facenet_pytorch import MTCNN as RefMTCNN  # noqa: E402

    from synthbio.faces.mtcnn import load_mtcnn
    from synthbio.faces.mtcnn_cascade import detect

    ref = RefMTCNN(keep_all=True, device="cpu")
    ours = load_mtcnn(ref_dir)
    print("| photo | size | faces ref / ours | matched | max box diff (px) | max landmark diff (px) | "
          "max score diff | ref ms | ours ms | ref/ours |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst_box = worst_lm = worst_score = 0.0
    total_ref = total_ours = total_matched = 0
    for name, img in _photos():
        t_ref, t_ours = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rb, rs, rl = ref.detect(Image.fromarray(img), landmarks=True)
            t1 = time.perf_counter()
            det = detect(ours, img)[0]
            t2 = time.perf_counter()
            t_ref.append(t1 - t0)
            t_ours.append(t2 - t1)
        rb = np.zeros((0, 4)) if rb is None else np.asarray(rb, np.float64)
        rs = np.zeros(0) if rs is None else np.asarray(rs, np.float64)
        rl = np.zeros((0, 5, 2)) if rl is None else np.asarray(rl, np.float64)
        box_d = lm_d = sc_d = 0.0
        matched = 0
        used: set[int] = set()
        for i in range(len(rb)):
            cands = [(j, _iou(rb[i], det.boxes[j])) for j in range(len(det)) if j not in used]
            if not cands:
                continue
            j, iou = max(cands, key=lambda c: c[1])
            if iou < 0.5:
                continue
            used.add(j)
            matched += 1
            box_d = max(box_d, float(np.abs(rb[i] - det.boxes[j]).max()))
            lm_d = max(lm_d, float(np.abs(rl[i] - det.landmarks[j]).max()))
            sc_d = max(sc_d, float(abs(rs[i] - det.scores[j])))
        worst_box, worst_lm, worst_score = max(worst_box, box_d), max(worst_lm, lm_d), max(worst_score, sc_d)
        total_ref, total_ours, total_matched = total_ref + len(rb), total_ours + len(det), total_matched + matched
        mr, mo = statistics.median(t_ref) * 1e3, statistics.median(t_ours) * 1e3
        print(f"| {name} | {img.shape[1]}x{img.shape[0]} | {len(rb)} / {len(det)} | {matched} | {box_d:.2e} | "
              f"{lm_d:.2e} | {sc_d:.1e} | {mr:.0f} | {mo:.0f} | {mr / mo:.2f} |")
    print(f"\ntotal faces ref {total_ref}, ours {total_ours}, matched {total_matched}; worst box diff "
          f"{worst_box:.2e} px, landmark {worst_lm:.2e} px, score {worst_score:.1e} "
          f"(torch {torch.__version__}, {args.threads} thread(s), {args.repeats} repeats)")


if __name__ == "__main__":
    main()
