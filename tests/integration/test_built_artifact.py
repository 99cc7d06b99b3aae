"""The artifact `sam build` made (the function folders and the built layer) is the one that works.

A fresh Python process gets only what Lambda would put on its path: the built function folder and
the built layer's python/ folder, plus boto3 and Powertools, which the runtime and AWS's public
layer provide (here: the virtual environment, pinned to the same Powertools release). It then
handles events against moto's Secrets Manager and the Cloudflare double on loopback.

The layer is built for arm64, and this machine is x86_64: distributions with compiled extensions
(cryptography, cffi's backend) cannot load from it here. For exactly those, this machine's build of
the same pinned version (its Python code included), stripped as the build strips its own, is put in
front of the layer; the test checks that the versions are identical and that everything else, our
code and every pure-Python library, comes from the build output, and that nothing is imported from
anywhere Lambda would not have it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import pytest

from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.native_overlay import native_overlay, section_names, strip_tool, stripped
from localdev.standins.signing_keys import new_signing_key, public_jwk, public_key, secret_fields
from localdev.standins.stack import create_secret
from tests.support.log_hygiene import sensitive

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
FUNCTION_DIR, LAYER_DIR = BUILD / "MintFunction", BUILD / "StreamTokensLayer" / "python"
DIRECT_DIR = BUILD / "MintDirectFunction"
ROTATION_DIR = BUILD / "RotateSigningKeyFunction"
# What Lambda's python3.13 runtime (boto3 and what it needs) and AWS's Powertools layer (with
# typing_extensions) provide, beside the build
RUNTIME_PROVIDED: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
RUNTIME_PROVIDED += ("aws_lambda_powertools", "typing_extensions")

DRIVER = r"""
import json, os, sys, time, uuid
sys.path[:0] = sys.argv[1].split(":")
built = tuple(os.path.join(folder, "") for folder in sys.argv[2].split(":"))  # the build's own folders
compiled = []  # sources of the build the interpreter compiled: none, when the shipped bytecode is used
sys.addaudithook(lambda event, args: event == "compile" and str(args[1]).startswith(built) and compiled.append(args[1]))
import app, stream_tokens

class Context:
    function_name = "mint-http"; memory_limit_in_mb = 512; function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mint-http"
    aws_request_id = str(uuid.uuid4()); log_group_name = "/aws/lambda/mint-http"; log_stream_name = "s"
    def __init__(self): self.deadline = time.monotonic() + 10
    def get_remaining_time_in_millis(self): return int((self.deadline - time.monotonic()) * 1000)

answers = [app.lambda_handler(json.load(open(path)), Context()) for path in sys.argv[3:]]
names = ("stream_tokens", "app", "jwt", "requests")
modules = {name: getattr(sys.modules.get(name), "__file__", None) for name in names}
from_build = [m for m in list(sys.modules.values()) if str(getattr(m, "__file__", "")).startswith(built)]
from_bytecode = [m.__name__ for m in from_build if os.path.isfile(getattr(m, "__cached__", None) or "")]
bytecode = {"compiled": compiled, "from_build": len(from_build), "from_bytecode": len(from_bytecode)}
print("RESULT " + json.dumps({"modules": modules, "answers": answers, "bytecode": bytecode}))
"""


@pytest.fixture(scope="module")
def overlay(tmp_path_factory) -> Path:
    """This machine's build of the same versions of the layer's foreign native packages."""
    assert (FUNCTION_DIR / "app.py").is_file(), "run `make build` first"
    assert (LAYER_DIR / "stream_tokens").is_dir(), "run `make build` first"
    strip = strip_tool() if stripped(LAYER_DIR) else ""
    return native_overlay(LAYER_DIR, tmp_path_factory.mktemp("native-overlay"), strip=strip)


@pytest.fixture(scope="module")
def lambda_path(overlay: Path, tmp_path_factory) -> list[Path]:
    """The overlay, the layer, and a folder with what the runtime and the Powertools layer provide
    and nothing else: the function runs without this environment's site-packages, so anything else
    it imported (what the build leaves out, such as cffi's Python side and pycparser) would fail it."""
    folder = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        origin = Path(str(spec.origin))
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return [overlay, LAYER_DIR, folder]


def run_built(
    lambda_path: list[Path], env: dict[str, str], events: list[str], function_dir: Path = FUNCTION_DIR
) -> dict:
    """Handle `events` in a fresh process whose path is Lambda's: the function, the layer (after the
    overlay) and the runtime's packages."""
    paths = [str(function_dir), *map(str, lambda_path)]
    event_files = [str(ROOT / "events" / f"{name}.json") for name in events]
    # Lambda's code directories are read-only: nothing compiled there could be kept
    process_env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"} | env
    process_env |= {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    done = subprocess.run(
        # -S: no site-packages; then every folder on the path, the build's own, the events
        [sys.executable, "-S", "-c", DRIVER, ":".join(paths), f"{function_dir}:{LAYER_DIR}", *event_files],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )
    logged, _, answer_line = done.stdout.partition("RESULT ")
    print(logged, done.stderr)  # the function's log lines, into the captured output the log scan reads
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(answer_line)
    assert result["modules"]["stream_tokens"].startswith(str(LAYER_DIR))
    assert result["modules"]["app"].startswith(str(function_dir))
    # the shipped bytecode ran: nothing of the build was compiled, every module came with its .pyc
    bytecode = result["bytecode"]
    assert bytecode["compiled"] == []
    assert bytecode["from_bytecode"] == bytecode["from_build"] > 10, bytecode
    for answer in result["answers"]:
        body = json.loads(answer["body"]) if "body" in answer else {"success": True, "result": answer}
        if body["success"]:
            sensitive(body["result"]["token"])
    return result


@pytest.mark.built
def test_the_function_folders_hold_the_entry_point_only():
    for function_dir in (FUNCTION_DIR, DIRECT_DIR, ROTATION_DIR):
        assert sorted(p.name for p in function_dir.iterdir() if not p.name.startswith("__")) == ["app.py"]
    assert {"stream_tokens", "requests", "jwt", "cryptography", "fastjsonschema"} <= {
        p.name for p in LAYER_DIR.iterdir()
    }


@pytest.mark.built
def test_the_layer_ships_what_runs():
    """No build-time-only packages, charset-normalizer's pure-Python wheel, and native libraries
    without symbol tables when this machine has a strip for arm64 ELF (the build says otherwise)."""
    shipped = {p.name for p in LAYER_DIR.iterdir()}
    assert not {"cffi", "pycparser", "bin"} & shipped
    assert not [p.name for p in LAYER_DIR.glob("pycparser-*.dist-info")]
    assert "cffi-2.1.1.dist-info" in shipped  # its licence, for the _cffi_backend extension shipped
    libraries = sorted(p.relative_to(LAYER_DIR).parts[0].split(".")[0] for p in LAYER_DIR.rglob("*.so"))
    assert libraries == ["_cffi_backend", "cryptography"]
    assert not list(LAYER_DIR.glob("*.dist-info/RECORD"))  # pip's receipts: nothing reads them
    assert list(LAYER_DIR.glob("*.dist-info/METADATA"))  # what importlib.metadata reads stays
    if not strip_tool():
        pytest.skip("no strip for arm64 ELF on this machine: the build ships the libraries as they are")
    for library in LAYER_DIR.rglob("*.so"):
        names = section_names(library)
        assert ".symtab" not in names, library
        assert {".text", ".dynsym", ".rodata"} <= names, library  # what the loader needs is kept


@pytest.mark.built
def test_the_packages_own_bytecode_has_no_docstrings_and_still_runs_what_its_sources_say():
    """compile_package.py: the docstrings stay in the sources only (the size goal); the code objects
    are otherwise those of the sources (the built functions run on them in the tests above)."""
    import marshal

    model = LAYER_DIR / "stream_tokens" / "domain" / "model.py"
    shipped = Path(importlib.util.cache_from_source(str(model))).read_bytes()[16:]  # after the PEP 552 header
    code = marshal.loads(shipped)  # noqa: S302 - the build's own output
    assert '"""The Stream token domain' in model.read_text()
    assert not [c for c in code.co_consts if isinstance(c, str) and c.startswith("The Stream token domain")]
    names = {const.co_name for const in code.co_consts if hasattr(const, "co_name")}
    assert {"is_cloudflare_id", "TokenRequest", "access_rules_digest"} <= names


@pytest.mark.built
def test_the_build_ships_bytecode_for_python_313_valid_whatever_the_file_dates():
    """Every module of the function folders and the layer has its __pycache__/*.cpython-313.pyc, in
    unchecked-hash mode (PEP 552 flags 0b01): used as it is, since `sam deploy` zips the files dated
    1980 and a timestamp-based pyc would be compiled again at every cold start."""
    sources = [p for folder in (FUNCTION_DIR, DIRECT_DIR, ROTATION_DIR, LAYER_DIR) for p in folder.rglob("*.py")]
    assert len(sources) > 100
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.name.endswith(".cpython-313.pyc")
        assert cached.is_file(), source
        header = cached.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, cached
        assert int.from_bytes(header[4:8], "little") == 1, cached  # hash-based, check_source off


@pytest.mark.built
def test_the_sam_build_output_calls_the_api(lambda_path, function_env, double):
    result = run_built(
        lambda_path, function_env, ["videos-token.valid", "account-token.defaults", "videos-token.not-json"]
    )
    assert [a["statusCode"] for a in result["answers"]] == [200, 200, 400]
    assert len(double.token_requests()) == 2
    assert result["modules"]["requests"].startswith(str(LAYER_DIR))
    assert result["modules"]["jwt"] is None  # API mode never loads the signing libraries


@pytest.mark.built
def test_the_sam_build_output_signs_locally(overlay, lambda_path, function_env, double, moto_endpoint):
    key = new_signing_key()
    sensitive(key["pem"])
    sensitive(key["jwk"])
    arn = create_secret(moto_endpoint, f"built-{uuid.uuid4().hex}", {"account_id": ACCOUNT} | secret_fields(key))
    result = run_built(
        lambda_path, function_env | {"CLOUDFLARE_SECRET_ARN": arn}, ["videos-token.valid", "account-token.valid"]
    )
    assert [a["statusCode"] for a in result["answers"]] == [200, 200]
    assert result["modules"]["jwt"] is None  # tokens are signed with cryptography directly
    assert result["modules"]["requests"] is None  # local signing never loads the HTTP client
    if platform.machine() == "x86_64":  # the arm64 build's extensions were replaced, and only those
        assert {p.name.split(".")[0] for p in overlay.iterdir()} == {"cryptography", "_cffi_backend"}
    verifier = public_key(public_jwk(key))
    for answer in result["answers"]:
        token = json.loads(answer["body"])["result"]["token"]
        assert jwt.decode(token, verifier, algorithms=["RS256"])["kid"] == key["id"]
    assert double.requests == []


@pytest.mark.built
def test_the_sam_build_output_of_the_direct_function(lambda_path, function_env, double):
    result = run_built(lambda_path, function_env, ["direct.single", "direct.eventbridge"], function_dir=DIRECT_DIR)
    assert [answer["video_id"] for answer in result["answers"]] == [VIDEO] * 2
    assert len(double.token_requests()) == 2
