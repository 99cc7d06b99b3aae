"""Running a `sam build` output on this machine: the build is for arm64 (as the functions run),
so its compiled extensions for another CPU are replaced by this machine's build of the same pinned
versions, and only those; everything else (our code and every pure-Python library) comes from the
build output. When the build stripped its libraries' symbol tables, the overlay's copies are
stripped the same way, so that what runs here is what the build made of them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import shutil
import subprocess
from pathlib import Path

ELF_MACHINES = {"x86_64": 0x3E, "aarch64": 0xB7, "arm64": 0xB7}


def foreign_native_packages(folder: Path) -> set[str]:
    """Top-level names in `folder` whose compiled extensions are for another CPU."""
    host = ELF_MACHINES[platform.machine()]
    foreign = set()
    for library in folder.rglob("*.so"):
        machine = int.from_bytes(library.read_bytes()[18:20], "little")
        if machine != host:
            foreign.add(library.relative_to(folder).parts[0])
    return foreign


def section_names(library: Path) -> set[str]:
    """The section names of a 64-bit little-endian ELF file (what `readelf -S` lists)."""
    data = library.read_bytes()
    table = int.from_bytes(data[0x28:0x30], "little")
    entry, count, names_index = (int.from_bytes(data[at : at + 2], "little") for at in (0x3A, 0x3C, 0x3E))

    def field(index: int, offset: int, size: int) -> int:
        start = table + index * entry + offset
        return int.from_bytes(data[start : start + size], "little")

    names_at = field(names_index, 0x18, 8)
    return {data[names_at + field(i, 0, 4) :].split(b"\0", 1)[0].decode() for i in range(count)}


def stripped(folder: Path) -> bool:
    """Whether every native library in `folder` ships without its symbol table."""
    return all(".symtab" not in section_names(library) for library in folder.rglob("*.so"))


def strip_tool() -> str:
    """The strip the layer's build uses (layers/stream_tokens/Makefile), "" when it found none."""
    makefile_dir = Path(__file__).resolve().parents[2] / "layers" / "stream_tokens"
    make = shutil.which("make") or "make"
    found = subprocess.run(
        [make, "-s", "-C", str(makefile_dir), "strip-tool"], capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def native_overlay(folder: Path, into: Path, strip: str = "") -> Path:
    """Fill `into` with this environment's copies of `folder`'s foreign native packages, after
    checking that they are the very versions `folder` was built with; put it before `folder` on
    sys.path. Links to them, or, given the `strip` the build used, stripped copies."""
    owners = importlib.metadata.packages_distributions()
    for name in sorted(foreign_native_packages(folder)):
        top = name.split(".")[0]
        (distribution,) = set(owners[top.removesuffix(".abi3").split(".cpython")[0]])
        version = importlib.metadata.version(distribution)
        built = [
            p.name
            for p in folder.glob("*.dist-info")
            if p.name.lower().replace("_", "-").startswith(distribution.lower().replace("_", "-") + "-")
        ]
        if not built or built != [f"{p.split('-')[0]}-{version}.dist-info" for p in built]:
            raise RuntimeError(f"{distribution}: built {built}, this environment has {version}")
        spec = importlib.util.find_spec(top)
        assert spec is not None, top
        assert spec.origin is not None, top
        here = Path(spec.origin)
        source = here.parent if here.name == "__init__.py" else here
        if strip:
            _stripped_copy(source, into / source.name, strip)
        else:
            (into / source.name).symlink_to(source)
    return into


def _stripped_copy(source: Path, target: Path, strip: str) -> None:
    if source.is_dir():  # with its bytecode: the build ships the layer's compiled
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    libraries = [str(p) for p in ([target] if target.is_file() else target.rglob("*.so"))]
    subprocess.run([strip, "--strip-unneeded", *libraries], check=True)
