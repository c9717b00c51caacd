"""The new user's path: ``pip install`` bakeoff (not editable) into a fresh virtual environment, delete the
source it was built from, then in an empty folder ``bakeoff run --duration 10s``, ``bakeoff init`` and
``bakeoff validate``. Passing proves the installed package carries its scenarios, faults and prompts.

To stay fast the venv borrows this interpreter's installed packages (a .pth file naming its
site-packages, which also works when this interpreter is itself a venv; the .pth files there, such as an
editable bakeoff's, are not run) and bakeoff is installed with ``--no-deps``: nothing but bakeoff itself is
built (pip builds the wheel in its usual isolated environment; setuptools comes from pip's cache or the
index). About 45 s on two busy cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("pyproject.toml", "README.md", "harness", "scenarios", "faults", "prompts")
DATA = ("scenarios", "faults", "prompts")


def _data_files() -> set[str]:
    """The files of the top-level data folders the package must carry (as paths below those folders)."""
    out = set()
    for folder in DATA:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                out.add(path.relative_to(ROOT).as_posix())
    return out


def _copy_source(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in SHIPPED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _env() -> dict[str, str]:
    # nothing may point back at the checkout: no PYTHONPATH, and commands run from an empty folder
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}


def _run(argv: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{argv}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with bakeoff installed from a copy of this tree, the copy deleted after."""
    base = tmp_path_factory.mktemp("install")
    src = _copy_source(base / "src")
    env_dir = base / "venv"
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "venv", env_dir], base, 120)
    borrowed = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (_site_packages(env_dir) / "_borrowed.pth").write_text("".join(f"{p}\n" for p in borrowed))
    _run(
        [
            env_dir / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            src,
        ],
        base,
        300,
    )
    shutil.rmtree(src)  # from here on only the installed package can answer
    print(f"venv + non-editable install: {time.perf_counter() - t0:.1f} s")
    return env_dir


def _site_packages(env_dir: Path) -> Path:
    [site] = (env_dir / "lib").glob("python3.*/site-packages")
    return site


def test_the_installed_package_carries_every_scenario_fault_and_prompt(venv: Path) -> None:
    builtin = _site_packages(venv) / "harness" / "_builtin"
    installed = {p.relative_to(builtin).as_posix() for p in builtin.rglob("*") if p.is_file()}
    assert _data_files() <= installed, sorted(_data_files() - installed)


def test_run_from_an_empty_folder_writes_reports_there(venv: Path, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    proc = _run([venv / "bin" / "bakeoff", "run", "--duration", "10s", "--quiet"], tmp_path, 240)
    print(f"bakeoff run --duration 10s: {time.perf_counter() - t0:.1f} s")
    report = Path(proc.stdout.strip().splitlines()[-1])
    assert not report.is_absolute() and report.parts[0] == "reports"
    assert (tmp_path / report).is_file()
    manifest = json.loads((tmp_path / report).with_name("manifest.json").read_text())
    # the built-in default, read from the installed package
    assert manifest["scenario"]["path"].startswith(str(_site_packages(venv) / "harness" / "_builtin"))
    assert manifest["scenario"]["duration_s"] == 60.0 and manifest["duration_s"] == 10.0
    assert "warning: " in proc.stderr and "it will not be applied" in proc.stderr  # faults at 20 s and 40 s


def test_scenarios_lists_the_installed_ones(venv: Path, tmp_path: Path) -> None:
    proc = _run([venv / "bin" / "bakeoff", "scenarios"], tmp_path, 60)
    assert str(_site_packages(venv) / "harness" / "_builtin" / "scenarios") in proc.stdout
    names = {line.split()[0] for line in proc.stdout.splitlines()[2:-1]}
    assert {"default", "brownout", "short/brownout"} <= names


def test_init_then_validate(venv: Path, tmp_path: Path) -> None:
    bakeoff = venv / "bin" / "bakeoff"
    _run([bakeoff, "init", "project"], tmp_path, 60)
    scenario = tmp_path / "project" / "scenario.yaml"
    for mode in ([], ["--lint"]):
        proc = _run([bakeoff, "validate", *mode, scenario], tmp_path, 60)
        assert (
            proc.stdout.strip() == f"{scenario}: ok (4 endpoints (3 unused), 1 contender, 8 prompts, 1 fault)"
        )


def test_the_sdist_carries_every_scenario_fault_and_prompt(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    src = _copy_source(tmp_path / "src")
    code = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    proc = _run([sys.executable, "-c", code, tmp_path / "dist"], src, 120)
    sdist = tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert _data_files() <= names, sorted(_data_files() - names)
