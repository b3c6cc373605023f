"""What keeps `synthbio serve` read-only and local: path checks, the access token, upload checks.

- Files: a request names a file as `<root>/<relative path>`, where `<root>` is
  the name of one of the folders the server was started with. Absolute paths,
  `..` segments, backslashes, NUL bytes and names that only decode to those
  (percent-encoded) are refused before the file system is asked; the path is
  then resolved (symlinks followed) and must still lie under the root's own
  resolved path, so a symlink that points out of the folder is refused too.
- Host: requests whose Host header names neither a loopback name nor the
  address the server was bound to are refused (a page on another site cannot
  reach the server through DNS rebinding).
- Token: bound to anything but loopback, every request must carry the token
  printed at start (`?token=`, which sets a cookie, or `Authorization:
  Bearer`); on loopback no token is needed unless one is set.
- Uploads: read in chunks up to a size limit (413 past it), with an allowed
  content type (415 otherwise) and a check that the bytes are what they
  claim (400 otherwise).
- Nothing here writes: the app has no route that changes a served folder.
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import PIL.Image

from synthbio.errors import InputError

TOKEN_COOKIE = "synthbio_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


class AccessError(InputError):
    """A request for something outside the served folders (answered 403 or 404)."""


class UploadError(InputError):
    """An upload that is too large (413), of a refused type (415) or not what it claims (400)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Roots:
    """The served folders by name: name -> resolved absolute path (names are unique, URL-safe)."""

    paths: Mapping[str, Path]

    @classmethod
    def from_folders(cls, folders: Iterable[str | os.PathLike[str]]) -> Roots:
        """Name each folder after its last component (`demo_out`, `demo_out-2` on a clash)."""
        paths: dict[str, Path] = {}
        for folder in folders:
            p = Path(folder).expanduser()
            if not p.is_dir():
                raise InputError(f"{os.fspath(folder)!r} is not a folder (synthbio serve takes folders)")
            real = p.resolve()
            if real in paths.values():
                continue
            base = _url_name(real.name or "root")
            name, k = base, 2
            while name in paths:
                name, k = f"{base}-{k}", k + 1
            paths[name] = real
        if not paths:
            raise InputError("no folder to serve")
        return cls(paths=paths)

    def resolve(self, ref: str) -> Path:
        """`<root>/<relative path>` -> the real path of an existing file or folder under that root.

        Raises AccessError for anything outside the roots (see module docstring).
        """
        root_name, rel = split_ref(ref)
        root = self.paths.get(root_name)
        if root is None:
            raise AccessError(f"no served folder is named {root_name!r}")
        target = (root / rel) if rel else root
        try:
            real = target.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise AccessError(f"{ref!r} does not exist") from None
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            raise AccessError(f"{ref!r} cannot be opened") from None
        if real != root and not real.is_relative_to(root):
            raise AccessError(f"{ref!r} leads out of the served folder {root_name!r}")
        return real

    def ref_of(self, path: Path) -> str | None:
        """The `<root>/<relative path>` naming a real path under a root (None when under none)."""
        real = path.resolve()
        for name, root in self.paths.items():
            if real == root:
                return name
            if real.is_relative_to(root):
                return f"{name}/{real.relative_to(root).as_posix()}"
        return None


def _url_name(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return safe or "root"


def split_ref(ref: str) -> tuple[str, str]:
    """'<root>/<a>/<b>' -> ('<root>', 'a/b'), refusing every form of escape before touching a disk."""
    if not isinstance(ref, str) or not ref:
        raise AccessError("empty path")
    decoded = ref
    for _ in range(3):  # a name that only decodes to '..' or '/' (double encoding) is refused as well
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    for text in (ref, decoded):
        if "\x00" in text or "\\" in text:
            raise AccessError(f"{ref!r}: NUL bytes and backslashes are not allowed in paths")
        if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
            raise AccessError(f"{ref!r}: absolute paths are refused; name a file under a served folder")
        parts = PurePosixPath(text).parts
        if any(p in ("..", ".") for p in text.split("/")) or ".." in parts:
            raise AccessError(f"{ref!r}: '..' and '.' segments are refused")
    head, _, rest = ref.partition("/")
    return head, rest.strip("/")


# --- host and token -----------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(bind_host: str) -> set[str]:
    """Host header names the server answers to: loopback names, plus the bound address (non-wildcard)."""
    names = set(LOOPBACK_NAMES)
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(bind_host.lower())
    return names


def host_allowed(host_header: str | None, allowed: set[str]) -> bool:
    """True when the Host header (port stripped) is one of `allowed`; '*' in allowed accepts any."""
    if "*" in allowed:
        return True
    if not host_header:
        return False
    h = host_header.strip().lower()
    if h.startswith("["):
        name = h[: h.find("]") + 1] if "]" in h else h
    else:
        name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    return name in allowed or name.strip("[]") in allowed


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


# --- uploads ------------------------------------------------------------------------------

TEMPLATE_TYPES = ("application/octet-stream", "application/json", "text/plain")
IMAGE_TYPES = ("image/png", "image/jpeg")


def check_content_type(content_type: str | None, allowed: Iterable[str]) -> str:
    """The media type of a request body (parameters dropped), or UploadError 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    allowed = tuple(allowed)
    if media not in allowed:
        raise UploadError(f"content type {media or 'none'!r} is refused here; send one of {', '.join(allowed)}",
                          status=415)
    return media


def template_kind(data: bytes, filename: str) -> str:
    """The template format the bytes hold ('iso19794-2', 'ansi378', 'json', 'xyt'), or UploadError 400.

    The bytes are checked, not only the name: a binary record must start with
    'FMR\\0', a JSON file must be a synthbio template, an .xyt file must be
    lines of 3 or 4 integers.
    """
    suffix = PurePosixPath(filename or "").suffix.lower()
    if data[:4] == b"FMR\x00":
        return "ansi378" if suffix in (".ansi", ".ansi378", ".378") else "iso19794-2"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadError("the upload is neither an ISO/ANSI minutiae record (FMR) nor UTF-8 text",
                          status=400) from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        if "synthbio.minutiae_template" not in text[:4096]:
            raise UploadError("the JSON upload is not a synthbio minutiae template", status=400)
        return "json"
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if lines and all(len(ln) in (3, 4) and all(_is_int(t) for t in ln) for ln in lines):
        return "xyt"
    raise UploadError("the upload is not a minutiae template (ISO/ANSI record, synthbio JSON or NIST .xyt)", status=400)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def image_kind(data: bytes) -> str:
    """'png' or 'jpeg' when the bytes decode as such (PIL verify), else UploadError 400."""


    if data[:8] == b"\x89PNG\r\n\x1a\n":
        kind = "png"
    elif data[:3] == b"\xff\xd8\xff":
        kind = "jpeg"
    else:
        raise UploadError("the upload is not a PNG or JPEG image", status=400)
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception as exc:  # PIL raises many types for damaged files
        raise UploadError(f"the {kind.upper()} upload cannot be decoded: {exc}", status=400) from None
    return kind
