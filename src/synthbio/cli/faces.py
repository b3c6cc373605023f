"""`synthbio faces ...`: detect, crop (FFHQ / ArcFace / dlib chip), embed and compare faces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption

faces_app = typer.Typer(help="Face detection, alignment and recognition (dlib, ArcFace, AdaFace).", no_args_is_help=True)

_DETECTOR = typer.Option("--detector", help="hog (dlib HOG, fast) | cnn (dlib MMOD CNN) | mtcnn (MTCNN, own 5 points).")
_DETECTOR_WEIGHTS = typer.Option("--detector-weights", help="MTCNN weights: the facenet-pytorch wheel or a folder "
                                 "with pnet.pt, rnet.pt, onet.pt (default: registry entry mtcnn-facenet).")
_UPSAMPLE = typer.Option("--upsample", help="Image doublings before detection (finds smaller faces).")
_MODEL = typer.Option("--identity-model", help="Recogniser: dlib-resnet | arcface-r100 | adaface-ir101 | pixel-random.")
_WEIGHTS = typer.Option("--identity-weights", help="Weight file or registry name of the recogniser (required for arcface/adaface).")  # noqa: E501
_ALIGNED = typer.Option("--aligned", help="Inputs are FFHQ-aligned faces (e.g. generated, or made by `synthbio faces crop`): no detector.")  # noqa: E501


def _best_face(image, path: str, detector: str, upsample: int, weights: Optional[str] = None):  # noqa: ANN001, ANN202, UP007
    from synthbio.errors import InputError
    from synthbio.faces.detection import detect_faces

    faces = detect_faces(image, detector=detector, upsample=upsample, weights=weights)
    if not faces:
        raise InputError(f"no face found in {path} (try --upsample 2, --detector cnn or --detector mtcnn; for faces "
                         "already aligned, e.g. generated ones or crops made by `synthbio faces crop`, pass --aligned)")
    return faces[0]


def _embedding(model, path: str, *, aligned: bool, detector: str, upsample: int,  # noqa: ANN001, ANN202
               weights: Optional[str] = None):  # noqa: UP007
    import torch

    from synthbio.faces.alignment import image_to_tensor
    from synthbio.faces.detection import read_rgb
    from synthbio.identity.face_models import embed_face

    image = read_rgb(path)
    if aligned:
        with torch.no_grad():
            return model.embed(image_to_tensor(image))
    return embed_face(model, image, _best_face(image, path, detector, upsample, weights))


def _vector_model(name: str, weights: Optional[str]):  # noqa: ANN202, UP007
    from synthbio.errors import InputError
    from synthbio.identity.models import build_identity_model

    model = build_identity_model(name, weights=weights)
    if model.kind != "vector":
        raise InputError(f"--identity-model {name!r} is a {model.kind} matcher, not a face recogniser")
    return model


@faces_app.command("detect")
def detect_command(
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    detector: Annotated[str, _DETECTOR] = "hog",
    detector_weights: Annotated[Optional[str], _DETECTOR_WEIGHTS] = None,  # noqa: UP007
    upsample: Annotated[int, _UPSAMPLE] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
) -> None:
    """Faces in each image: box (left top right bottom), score, 5 landmarks."""
    from synthbio.faces.detection import detect_faces, read_rgb

    for path in images:
        faces = detect_faces(read_rgb(path), detector=detector, upsample=upsample, weights=detector_weights)
        if as_json:
            typer.echo(json.dumps({"image": path, "faces": [f.to_json() for f in faces]}))
            continue
        typer.echo(f"{path}: {len(faces)} face(s)")
        for i, f in enumerate(faces):
            typer.echo(f"  {i}: box {f.box} score {f.score:.3f}")


@faces_app.command("crop")
def crop_command(
    image: Annotated[str, typer.Argument(help="Image file.")],
    out: Annotated[str, typer.Option("--output", "-o", help="Output PNG (several faces: NAME_<i>.png).")],
    style: Annotated[str, typer.Option("--style", help="ffhq | arcface (112) | dlib (150 chip).")] = "ffhq",
    size: Annotated[Optional[int], typer.Option("--size", help="Output side (default 1024 / 112 / 150).")] = None,  # noqa: UP007
    all_faces: Annotated[bool, typer.Option("--all", help="Crop every face, not only the best one.")] = False,
    detector: Annotated[str, _DETECTOR] = "hog",
    detector_weights: Annotated[Optional[str], _DETECTOR_WEIGHTS] = None,  # noqa: UP007
    upsample: Annotated[int, _UPSAMPLE] = 1,
) -> None:
    """Aligned crop(s) of the face(s) in an image."""
    from synthbio.errors import InputError, OutputDirError
    from synthbio.faces.alignment import align_face
    from synthbio.faces.detection import detect_faces, read_rgb
    from synthbio.io.images import write_png

    target = Path(out)
    if target.is_dir():
        raise OutputDirError(f"--output {out!r} is a folder; give a PNG file name")
    img = read_rgb(image)
    faces = detect_faces(img, detector=detector, upsample=upsample, weights=detector_weights)
    if not faces:
        raise InputError(f"no face found in {image} (try --upsample 2 or --detector cnn)")
    chosen = faces if all_faces else faces[:1]
    target.parent.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(chosen):
        path = target if len(chosen) == 1 else target.with_name(f"{target.stem}_{i}{target.suffix or '.png'}")
        write_png(path, align_face(img, face.landmarks, style=style, size=size, landmark_kind=face.landmark_kind))
        typer.echo(str(path))


@faces_app.command("embed")
def embed_command(
    images: Annotated[list[str], typer.Argument(help="Image files, folders or a database index (one embedding per "
                                                "image: its best face).")],
    out: Annotated[str, typer.Option("--output", "-o", help="Output .npy (float32 [N, D]) or .json.")],
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    db_root: DbRootOption = None,
    model_name: Annotated[str, _MODEL] = "dlib-resnet",
    weights: Annotated[Optional[str], _WEIGHTS] = None,  # noqa: UP007
    aligned: Annotated[bool, _ALIGNED] = False,
    detector: Annotated[str, _DETECTOR] = "hog",
    detector_weights: Annotated[Optional[str], _DETECTOR_WEIGHTS] = None,  # noqa: UP007
    upsample: Annotated[int, _UPSAMPLE] = 1,
) -> None:
    """Face embeddings of images, written as .npy or .json."""
    import torch

    from synthbio.errors import InputError
    from synthbio.utils.hashing import atomic_write_json, atomic_write_npy

    from synthbio.io.databases import parse_where, select_many

    if not out.endswith((".npy", ".json")):
        raise InputError(f"--output {out!r} must end in .npy or .json")
    samples = select_many(images, protocol=protocol, group=group, where=parse_where(where), root=db_root)
    model = _vector_model(model_name, weights)
    emb = torch.cat([_embedding(model, str(s.file), aligned=aligned, detector=detector, upsample=upsample,
                                weights=detector_weights) for s in samples])
    arr = emb.float().cpu().numpy()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if out.endswith(".npy"):
        atomic_write_npy(out, arr)
    else:
        atomic_write_json(out, {"model": model.name, "images": [str(s.file) for s in samples],
                                "identities": [s.identity for s in samples], "embeddings": arr.tolist()})
    typer.echo(f"{len(samples)} embedding(s) of dimension {arr.shape[1]} ({model.name}): {out}")


@faces_app.command("compare")
def compare_command(
    image_a: Annotated[str, typer.Argument(help="First image.")],
    image_b: Annotated[str, typer.Argument(help="Second image.")],
    model_name: Annotated[str, _MODEL] = "dlib-resnet",
    weights: Annotated[Optional[str], _WEIGHTS] = None,  # noqa: UP007
    aligned: Annotated[bool, _ALIGNED] = False,
    detector: Annotated[str, _DETECTOR] = "hog",
    detector_weights: Annotated[Optional[str], _DETECTOR_WEIGHTS] = None,  # noqa: UP007
    upsample: Annotated[int, _UPSAMPLE] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Cosine similarity and angle of the best faces of two images, and the model's decision."""
    from synthbio.identity.models import angle_distance

    model = _vector_model(model_name, weights)
    ea = _embedding(model, image_a, aligned=aligned, detector=detector, upsample=upsample, weights=detector_weights)
    eb = _embedding(model, image_b, aligned=aligned, detector=detector, upsample=upsample, weights=detector_weights)
    cos = model.similarity(ea, eb)
    result = {
        "model": model.name,
        "cosine": round(float(cos), 6),
        "angle_rad": round(float(angle_distance(cos)), 6),
        "threshold": round(float(model.threshold), 6),
        "same_identity": bool(float(cos) >= model.threshold),
        "euclidean": round(float((ea - eb).norm()), 6),
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    verdict = "same identity" if result["same_identity"] else "different identities"
    typer.echo(f"cosine {result['cosine']:.4f} (angle {result['angle_rad']:.4f} rad, euclidean {result['euclidean']:.4f}); "
               f"threshold {result['threshold']:.4f}: {verdict} ({model.name})")


def register(app: typer.Typer) -> None:
    app.add_typer(faces_app, name="faces")
