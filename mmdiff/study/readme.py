"""README's study tables come from the stored JSON files, never by hand.

README.md marks each table with HTML comments::

    <!-- study:pipelines -->
    ...generated table...
    <!-- /study:pipelines -->

and ``<!-- answer:why_diffusion -->`` the answer :mod:`mmdiff.study.answer` computes from them.
``mmdiff study --readme`` rewrites every marked block from ``ckpts/studies/<name>.json``;
``--readme --check`` (and ``tests/test_study.py``) fails when a block differs from its file.
"""
from __future__ import annotations

import re
from pathlib import Path

from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import DataError
from mmdiff.study.report import load_study, table

BLOCK = re.compile(r"(<!-- (?P<kind>study|answer):(?P<name>[\w-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /(?P=kind):(?P=name) -->)", re.S)


def render(text: str, study_dir: Path) -> str:
    """``text`` with every marked block replaced by its study's current table."""
    def fill(match: re.Match) -> str:
        if match["kind"] == "answer":
            if match["name"] != "why_diffusion":
                raise DataError(f"README block answer:{match['name']}: the only answer is "
                                f"answer:why_diffusion")
            from mmdiff.study.answer import why_diffusion_answer
            return f"{match[1]}{why_diffusion_answer(study_dir)}\n{match[5]}"
        path = Path(study_dir) / f"{match['name']}.json"
        if not path.is_file():
            raise DataError(f"README block study:{match['name']}: no {path}")
        return f"{match[1]}{table(load_study(path))}\n{match[5]}"
    return BLOCK.sub(fill, text)


def sync_readme(readme: str | Path = "README.md", study_dir: str | Path = "ckpts/studies",
                check: bool = False) -> list[str]:
    """Rewrite (or with ``check`` only compare) README's study blocks. Returns the names of the
    blocks that differed from their files."""
    readme = Path(readme)
    text = readme.read_text()
    stale = [m["name"] for m in BLOCK.finditer(text)
             if render(m[0], Path(study_dir)) != m[0]]
    if stale and not check:
        new = render(text, Path(study_dir))
        write_atomic(readme, lambda f: f.write(new.encode()))
    return stale
