"""The layer's own package compiled without docstrings (its Makefile runs this after compileall).

Docstrings are for the reader of the sources, which ship beside the bytecode; the running code never
reads them (nothing in stream_tokens reads __doc__, and it has no assert that -OO would drop). Left
out of the bytecode, they keep the deployment under half the Cloudflare SDK peer's (docs/benchmarks.md).
The bytecode stays where and as compileall wrote it: the interpreter's cache name, unchecked-hash
(PEP 552), and the path Lambda shows in tracebacks.
"""

import importlib.util
import py_compile
import sys
from pathlib import Path

site, artifacts, shown_root = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
for source in sorted((site / "stream_tokens").rglob("*.py")):
    py_compile.compile(
        str(source),
        cfile=importlib.util.cache_from_source(str(source)),
        dfile=f"{shown_root}/{source.relative_to(artifacts)}",
        doraise=True,
        optimize=2,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
