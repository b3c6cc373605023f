"""Face recogniser figures: synthbio's dlib ResNet port vs dlib itself.

Agreement: max |descriptor difference| on chips of the astronaut photo
(scikit-image) and 8 perturbed copies (noise, flips, brightness), dlib's chip
fed to both. Photo agreement: on whole photos (the astronaut, and with
--photos DIR every .jpg/.png there, e.g. the test images of the
face_recognition sdist), synthbio's pipeline (detection, landmarks, its own
chip, the port) against dlib's (`compute_face_descriptor(image, shape)`):
chip grey-level difference and descriptor L2 distance (dlib's same-person
threshold is 0.6), for synthbio's chip (`faces.dlib_chip`, pyramid + bilinear
as dlib) and for a plain antialiased warp (what it used before). Speed: dlib's compute_face_descriptor one chip at a time and as
a batch (its C++ batch API) vs the port's forward at batch 1 / 8 / 32, per
face, median of interleaved rounds. Also: the port's backward (what identity
losses need). CPU, float32, torch threads as set by --threads.

    .venv/bin/python bench/faces.py [--threads 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch


def _chips() -> list[np.ndarray]:
    import dlib
    from skimage.data import astronaut

    from synthbio.faces.detection import detect_faces
    from synthbio.faces.dlib_resnet import face_recognition_models_dir

    img = astronaut()
    face = detect_faces(img)[0]
    sp = dlib.shape_predictor(str(face_recognition_models_dir() / "shape_predictor_5_face_landmarks.dat"))
    chip = dlib.get_face_chip(img, sp(img, dlib.rectangle(*face.box)), size=150, padding=0.25)
    rng = np.random.default_rng(0)
    out = [chip, np.ascontiguousarray(chip[:, ::-1])]
    while len(out) < 9:
        noisy = chip.astype(np.float64) * rng.uniform(0.7, 1.2) + rng.normal(0, 8, chip.shape)
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def _photo_agreement(folder: str | None, model) -> list[dict[str, object]]:  # noqa: ANN001
    """Per photo: chip and descriptor differences to dlib, for synthbio's chip and the former warp."""
    from pathlib import Path

    import dlib
    from skimage.data import astronaut

    from synthbio.faces.alignment import align_face, dlib_chip_matrix, image_to_tensor, tensor_to_image, warp_affine
    from synthbio.faces.detection import detect_faces, read_rgb
    from synthbio.faces.dlib_resnet import DAT_NAME, face_recognition_models_dir

    d = face_recognition_models_dir()
    rec = dlib.face_recognition_model_v1(str(d / DAT_NAME))
    sp = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
    photos = [("astronaut", astronaut())]
    if folder:
        photos += [(p.name, read_rgb(p)) for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in (".jpg", ".png")]
    rows = []
    for name, img in photos:
        faces = detect_faces(img)
        if not faces:
            continue
        face = faces[0]
        shape = sp(img, dlib.rectangle(*face.box))
        ref_chip = dlib.get_face_chip(img, shape, size=150, padding=0.25).astype(int)
        ref = np.array(rec.compute_face_descriptor(img, shape))
        row: dict[str, object] = {"photo": name, "size": list(img.shape[:2]), "face_px": face.box[2] - face.box[0]}
        for label, chip in (("chip", align_face(img, face.landmarks, style="dlib")),
                            ("former_warp", tensor_to_image(warp_affine(image_to_tensor(img),
                                                                        dlib_chip_matrix(face.landmarks), 150)))):
            with torch.no_grad():
                emb = model.embed_chips(image_to_tensor(chip)).double().numpy()[0]
            row[f"{label}_max_grey_diff"] = int(np.abs(chip.astype(int) - ref_chip).max())
            row[f"{label}_descriptor_l2"] = round(float(np.linalg.norm(emb - ref)), 5)
        rows.append(row)
    return rows


def _time(fn, rounds: int) -> tuple[float, float]:  # noqa: ANN001
    """Median wall seconds and median process CPU seconds (all threads) of `fn`.

    CPU time is the fairer figure on a shared, loaded machine."""
    wall, cpu = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--photos", default=None, help="folder of face photos for the whole-pipeline agreement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import dlib

    from synthbio.faces.dlib_resnet import DAT_NAME, face_recognition_models_dir
    from synthbio.identity.models import build_identity_model

    rec = dlib.face_recognition_model_v1(str(face_recognition_models_dir() / DAT_NAME))
    model = build_identity_model("dlib-resnet")
    chips = _chips()
    x = torch.stack([torch.from_numpy(c).permute(2, 0, 1).float() / 127.5 - 1 for c in chips])
    with torch.no_grad():
        ours = model.embed_chips(x).double().numpy()
    ref = np.stack([np.array(rec.compute_face_descriptor(c)) for c in chips])
    diff = np.abs(ours - ref)
    result: dict[str, object] = {
        "agreement_max_abs": float(diff.max()),
        "agreement_mean_abs": float(diff.mean()),
        "descriptor_norm": float(np.linalg.norm(ref, axis=1).mean()),
        "threads": args.threads,
    }

    result["photo_agreement"] = _photo_agreement(args.photos, model)

    batch32 = chips * 4  # 36 chips, use the first 32
    timings: dict[str, tuple[float, float]] = {}

    def per_face(fn, n: int) -> tuple[float, float]:  # noqa: ANN001
        wall, cpu = _time(fn, args.rounds)
        return 1e3 * wall / n, 1e3 * cpu / n

    timings["dlib_single_ms_per_face"] = per_face(lambda: [rec.compute_face_descriptor(c) for c in chips[:8]], 8)
    timings["dlib_batch8_ms_per_face"] = per_face(lambda: rec.compute_face_descriptor(chips[:8]), 8)
    for n in (1, 8, 32):
        xb = torch.stack([torch.from_numpy(c).permute(2, 0, 1).float() / 127.5 - 1 for c in batch32[:n]])
        with torch.no_grad():
            model.embed_chips(xb)  # warm-up
            timings[f"port_batch{n}_ms_per_face"] = per_face(lambda xb=xb: model.embed_chips(xb), n)
    xg = x[:8].clone().requires_grad_(True)

    def fwd_bwd() -> None:
        model.embed_chips(xg).sum().backward()

    timings["port_batch8_fwd_bwd_ms_per_face"] = per_face(fwd_bwd, 8)
    result["timings_wall_cpu"] = {k: [round(w, 1), round(c, 1)] for k, (w, c) in timings.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
