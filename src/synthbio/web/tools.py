"""The tool pages: upload (or pick) an input, see what a synthbio job makes of it.

A tool is listed with what it takes and the API route that runs it; the
browser draws one page per tool from this list: `reconstruct` (a minutiae
template -> the print it describes, `synthbio.fingerprints.ridge_reconstruction`)
and `translate` (an image -> its translations by a translator under the served
folders, `synthbio.web.translate_tool`; `accepts="image"`, checked by
`synthbio.web.safety.image_kind`). A new tool is a `Tool` entry here and a
route in `synthbio.web.app`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    accepts: str  # "template" | "image"
    route: str
    description: str
    pick_suffixes: tuple[str, ...]  # files of the served folders the page offers to pick


TOOLS: list[Tool] = [
    Tool(name="reconstruct", title="Reconstruction from minutiae", accepts="template",
         route="/api/tools/reconstruct",
         description="Grows ridges from a minutiae template (ISO 19794-2, ANSI 378, NIST .xyt or synthbio JSON) and "
                     "draws the template's minutiae over the result, as `synthbio fingerprints reconstruct` does.",
         pick_suffixes=(".iso", ".json", ".xyt", ".ansi")),
    Tool(name="translate", title="Translation between domains", accepts="image", route="/api/tools/translate",
         description="Translates an image (PNG or JPEG) with a translator trained by `synthbio translate train` "
                     "under the served folders, one output per style code (style k from seed style seed + k), "
                     "as `synthbio translate apply --styles N` writes them.",
         pick_suffixes=(".png", ".jpg", ".jpeg")),
]


def register_tool(tool: Tool) -> None:
    TOOLS[:] = [t for t in TOOLS if t.name != tool.name] + [tool]


def available_tools() -> list[dict[str, Any]]:
    return [asdict(t) for t in TOOLS]
