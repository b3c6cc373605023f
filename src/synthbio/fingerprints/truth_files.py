"""The ground-truth files written beside every synthetic impression: ISO 19794-2, NIST xyt and JSON.

`synthbio fingerprints generate` and `synthbio dataset generate` (procedural
fingerprints) write the same three files next to each impression PNG, so
every reader of one reads the other:

    <name>.iso    ISO/IEC 19794-2:2005 record of the exact minutiae (best 255 kept)
    <name>.xyt    the same minutiae as NIST .xyt (NBIS convention)
    <name>.json   the full ground truth: minutiae, resolution, and `metadata`
                  (finger class, seeds, the impression's transform, ...)
"""

from __future__ import annotations

import json
from typing import Any

from synthbio.fingerprints.iso19794 import encode_fmr
from synthbio.fingerprints.minutiae import format_xyt, template_to_dict
from synthbio.fingerprints.types import MinutiaeTemplate

TRUTH_FORMATS = ("iso", "xyt", "json")


def encode_ground_truth(template: MinutiaeTemplate, metadata: dict[str, Any]) -> dict[str, bytes]:
    """{extension: file bytes} of the ground truth of one impression (keys in TRUTH_FORMATS order)."""
    text = json.dumps(template_to_dict(template, metadata=metadata), indent=1, allow_nan=False) + "\n"
    return {
        "iso": encode_fmr(template, standard="iso19794-2", keep_best=True),
        "xyt": format_xyt(template, convention="nist").encode(),
        "json": text.encode(),
    }
