"""Running a `sam build` output on this machine: the build is for arm64 (as the functions run),
so its compiled extensions for another CPU are replaced by this machine's build of the same pinned
versions, and only those; everything else (our code and every pure-Python library) comes from the
build output."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
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


def native_overlay(folder: Path, into: Path) -> Path:
    """Fill `into` with links to this environment's copies of `folder`'s foreign native packages,
    after checking that they are the very versions `folder` was built with; put it before `folder`
    on sys.path."""
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
        (into / source.name).symlink_to(source)
    return into
