"""The set-up files agree with each other: pyproject, environment.yml, Makefile, .ci/run."""
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_packages() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {_name(r) for r in reqs}


def _environment_packages() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_name(r) for r in pip if not r.startswith("-")}


def test_environment_names_the_same_packages_as_pyproject():
    assert _environment_packages() == _pyproject_packages()


def test_environment_installs_the_kit_itself():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert any(r.startswith("-e .") for r in pip)
    assert "pip" in env["dependencies"] and any(str(d).startswith("python") for d in env["dependencies"])


def test_required_packages_are_declared():
    assert {"torch", "numpy", "jupyterlab", "ipywidgets", "plotly", "nbval", "anywidget"} <= _pyproject_packages()


def test_torch_range_admits_the_pinned_cpu_build():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["dependencies"] if _name(r) == "torch")
    lower = re.search(r">=\s*([\d.]+)", torch_req).group(1)
    upper = re.search(r"<\s*([\d.]+)", torch_req).group(1)
    version = (2, 13, 0)
    assert tuple(int(x) for x in lower.split(".")) <= version < tuple(int(x) for x in upper.split("."))


def test_makefile_targets_and_ci_call_make_test():
    makefile = (REPO / "Makefile").read_text()
    for target in ("lab:", "test:", "demo:"):
        assert re.search(rf"^{target}", makefile, re.M), target
    assert "torch==2.13.0" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()
