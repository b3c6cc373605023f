"""CMU Multi-PIE: attributes from file names and the bob / Idiap `synthetics` protocols.

Layout (multiview images, as distributed):

    session01/multiview/001/01/05_1/001_01_01_051_07.png
    session<SS>/multiview/<subject>/<recording>/<camera>/<subject>_<SS>_<recording>_<camera w/o '_'>_<shot>.png

Attributes per image: subject, session (1-4), recording (1-3), camera ('05_1',
...), yaw (degrees, the camera's azimuth; negative = the subject's left...
see `CAMERA_YAW`), elevated (1 for the two cameras above eye level), shot
(0-19: 0 = no flash, 1-18 = one flash each, 19 = ambient again), lit (1 for
shot 7, the flash beside the frontal camera) and expression (by session and
recording, `EXPRESSIONS`).

Subjects are split as in bob.db.multipie: fixed dev and eval subject lists
(below), every other subject is `train` (bob's "world"). Protocols are given
by (sessions, recordings, cameras, shots) sets for train, enroll and probe
(the enroll / probe sets apply to the dev and eval subjects):

- M, U, G: illumination on the frontal camera 05_1 (enroll session 1
  recording 1; probes sessions 2-4; M: no flash only, U: probes under every
  flash, G: enroll under every flash too);
- E: expression (probes every recording of sessions 2-4);
- P: pose, enroll frontal, probes on the 13 eye-level cameras; P<cam> (e.g.
  P051, P240) probes one camera;
- P_center: P with the 7 cameras within 45 degrees of frontal;
- E_lit, P_lit, P_center_lit: the same sets taken under shot 7 (frontal flash)
  instead of shot 0, as Idiap's `synthetics` projects them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from synthbio.errors import InputError
from synthbio.io.databases.index import IndexContent

#: Camera -> azimuth in degrees: -90 for 11_0 (the "left profile" of bob's protocol names) through 0 for
#: the frontal 05_1 to +90 for 24_0 ("right profile"). 08_1 and 19_1 sit above eye level at about -30 / +30.
CAMERA_YAW: dict[str, int] = {
    "11_0": -90, "12_0": -75, "09_0": -60, "08_0": -45, "13_0": -30, "14_0": -15, "05_1": 0,
    "05_0": 15, "04_1": 30, "19_0": 45, "20_0": 60, "01_0": 75, "24_0": 90, "08_1": -30, "19_1": 30,
}
ELEVATED_CAMERAS = frozenset({"08_1", "19_1"})
EYE_LEVEL_CAMERAS = tuple(c for c in CAMERA_YAW if c not in ELEVATED_CAMERAS)
CENTER_CAMERAS = tuple(c for c in EYE_LEVEL_CAMERAS if abs(CAMERA_YAW[c]) <= 45)
FRONTAL_CAMERA = "05_1"
NO_FLASH_SHOT = 0
LIT_SHOT = 7
ALL_SHOTS = tuple(range(19))  # bob's illumination protocols use shots 0-18

#: Expression by (session, recording).
EXPRESSIONS: dict[tuple[int, int], str] = {
    (1, 1): "neutral", (2, 1): "neutral", (3, 1): "neutral", (4, 1): "neutral", (4, 2): "neutral",
    (1, 2): "smile", (3, 2): "smile", (2, 2): "surprise", (2, 3): "squint", (3, 3): "disgust", (4, 3): "scream",
}
EXPRESSION_IDS: dict[str, int] = {n: i for i, n in enumerate(("neutral", "smile", "surprise", "squint", "disgust",
                                                                "scream"))}

#: Subject split of bob.db.multipie (development and evaluation subjects; the rest train).
DEV_SUBJECTS = frozenset((
    2, 4, 6, 8, 10, 15, 18, 20, 22, 27, 33, 35, 38, 40, 42, 46, 48, 50, 52, 54, 57, 64, 68, 69, 71, 78, 80, 85, 97,
    102, 105, 107, 110, 111, 115, 118, 123, 125, 126, 128, 132, 137, 139, 143, 149, 157, 167, 169, 170, 177, 184,
    186, 190, 191, 193, 198, 202, 205, 208, 220, 227, 235, 241, 248))
EVAL_SUBJECTS = frozenset((
    3, 5, 9, 11, 14, 17, 19, 23, 28, 29, 34, 36, 41, 43, 44, 47, 49, 53, 55, 56, 62, 67, 70, 74, 76, 79, 83, 100,
    103, 104, 106, 108, 112, 116, 117, 122, 124, 127, 129, 131, 133, 138, 145, 150, 156, 161, 168, 175, 178, 181,
    185, 188, 192, 194, 196, 199, 203, 209, 223, 225, 230, 236, 240, 246, 250))

_NAME_RE = re.compile(r"^(\d{3})_(\d{2})_(\d{2})_(\d{2})(\d)_(\d{2})$")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class MultiPieImage:
    subject: int
    session: int
    recording: int
    camera: str
    shot: int

    @property
    def expression(self) -> str:
        return EXPRESSIONS.get((self.session, self.recording), "unknown")


def parse_name(stem: str) -> MultiPieImage:
    """'001_01_01_051_07' -> subject 1, session 1, recording 1, camera '05_1', shot 7."""
    m = _NAME_RE.match(stem)
    if not m:
        raise InputError(f"{stem!r} is not a Multi-PIE multiview name (subject_session_recording_camera_shot, "
                         "e.g. 001_01_01_051_07)")
    subj, sess, rec, cam_a, cam_b, shot = m.groups()
    camera = f"{cam_a}_{cam_b}"
    if camera not in CAMERA_YAW:
        raise InputError(f"{stem!r}: unknown Multi-PIE camera {camera!r}")
    return MultiPieImage(int(subj), int(sess), int(rec), camera, int(shot))


def relative_path(img: MultiPieImage, suffix: str = ".png") -> str:
    """Where an image lives under the Multi-PIE root (the distribution's layout)."""
    stem = f"{img.subject:03d}_{img.session:02d}_{img.recording:02d}_{img.camera.replace('_', '')}_{img.shot:02d}"
    return f"session{img.session:02d}/multiview/{img.subject:03d}/{img.recording:02d}/{img.camera}/{stem}{suffix}"


def subject_group(subject: int) -> str:
    return "dev" if subject in DEV_SUBJECTS else "eval" if subject in EVAL_SUBJECTS else "train"


# (sessions, recordings, cameras, shots); a protocol part is a union of such sets.
_Set = tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...], tuple[int, ...]]


@dataclass(frozen=True)
class Protocol:
    name: str
    train: tuple[_Set, ...]
    enroll: tuple[_Set, ...]
    probe: tuple[_Set, ...]


def _in(img: MultiPieImage, sets: Sequence[_Set]) -> bool:
    return any(img.session in s and img.recording in r and img.camera in c and img.shot in h for s, r, c, h in sets)


def _illumination(name: str, enroll_shots: tuple[int, ...], probe_shots: tuple[int, ...]) -> Protocol:
    f = (FRONTAL_CAMERA,)
    return Protocol(name,
                    train=(((1, 2, 3, 4), (1,), f, ALL_SHOTS), ((4,), (2,), f, ALL_SHOTS)),
                    enroll=(((1,), (1,), f, enroll_shots),),
                    probe=(((2, 3, 4), (1,), f, probe_shots), ((4,), (2,), f, probe_shots)))


def _pose(name: str, cameras: tuple[str, ...], shot: int) -> Protocol:
    s = (shot,)
    return Protocol(name,
                    train=(((1, 2, 3, 4), (1,), tuple(CAMERA_YAW), s), ((4,), (2,), tuple(CAMERA_YAW), s)),
                    enroll=(((1,), (1,), (FRONTAL_CAMERA,), s),),
                    probe=(((2, 3, 4), (1,), cameras, s), ((4,), (2,), cameras, s)))


def _expression(name: str, shot: int) -> Protocol:
    f, s = (FRONTAL_CAMERA,), (shot,)
    return Protocol(name,
                    train=(((1,), (1, 2), f, s), ((2, 3, 4), (1, 2, 3), f, s)),
                    enroll=(((1,), (1,), f, s),),
                    probe=(((2, 3, 4), (1, 2, 3), f, s),))


def protocols() -> dict[str, Protocol]:
    out = [
        _illumination("M", (NO_FLASH_SHOT,), (NO_FLASH_SHOT,)),
        _illumination("U", (NO_FLASH_SHOT,), ALL_SHOTS),
        _illumination("G", ALL_SHOTS, ALL_SHOTS),
        _expression("E", NO_FLASH_SHOT),
        _expression("E_lit", LIT_SHOT),
        _pose("P", EYE_LEVEL_CAMERAS, NO_FLASH_SHOT),
        _pose("P_lit", EYE_LEVEL_CAMERAS, LIT_SHOT),
        _pose("P_center", CENTER_CAMERAS, NO_FLASH_SHOT),
        _pose("P_center_lit", CENTER_CAMERAS, LIT_SHOT),
    ]
    out += [_pose("P" + cam.replace("_", ""), (cam,), NO_FLASH_SHOT) for cam in CAMERA_YAW]
    return {p.name: p for p in out}


def attributes(img: MultiPieImage) -> dict[str, int | str]:
    return {"subject": img.subject, "session": img.session, "recording": img.recording, "camera": img.camera,
            "yaw": CAMERA_YAW[img.camera], "elevated": int(img.camera in ELEVATED_CAMERAS), "shot": img.shot,
            "lit": int(img.shot == LIT_SHOT), "expression": img.expression,
            "expression_id": EXPRESSION_IDS.get(img.expression, -1)}


def build_multipie(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """Index every multiview image under a Multi-PIE root with the protocols above.

    metadata is not used (everything comes from the names); it is refused so
    that a mistaken argument is not silently ignored.
    """
    root = Path(root)
    if metadata is not None:
        raise InputError("the multipie builder reads everything from file names; it takes no metadata file")
    if not root.is_dir():
        raise InputError(f"Multi-PIE root {os.fspath(root)!r} is not a folder")
    content = IndexContent(kind="multipie", root=root)
    found: list[tuple[MultiPieImage, str]] = []
    for sess in sorted(p for p in root.glob("session*") if p.is_dir()):
        for f in sorted((sess / "multiview").rglob("*")):
            if f.suffix.lower() not in _IMAGE_SUFFIXES or not f.is_file():
                continue
            img = parse_name(f.stem)
            rel = f.relative_to(root).as_posix()
            if f"session{img.session:02d}/" not in rel:
                raise InputError(f"{os.fspath(f)!r}: its name says session {img.session} but it is not in "
                                 f"session{img.session:02d}/")
            found.append((img, rel))
    if not found:
        raise InputError(f"no Multi-PIE images (session*/multiview/...) under {os.fspath(root)!r}")
    for img, rel in found:
        content.add_sample(Path(rel).stem, rel, f"{img.subject:03d}", attributes(img))
    for proto in protocols().values():
        for img, rel in found:
            key = Path(rel).stem
            group = subject_group(img.subject)
            if group == "train":
                if _in(img, proto.train):
                    content.add_member(proto.name, "train", key)
                continue
            if _in(img, proto.enroll):
                content.add_member(proto.name, group, key, purpose="enroll")
            if _in(img, proto.probe):
                content.add_member(proto.name, group, key, purpose="probe")
    return content
