"""The house rules of the package, checked on every `make test`: the import contracts between
folders (pyproject's [tool.importlinter]), no import cycles, and what each process pays at start."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_the_import_contracts_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The contracts have teeth: the store importing Streamlit, or the fetcher the store, fails."""
    for bad_module, line in [
        ("store/queries.py", "import streamlit"),
        ("feeds/fetch.py", "from reportwatch.store import core"),
    ]:
        copy = tmp_path / bad_module.replace("/", "_")
        shutil.copytree(ROOT / "reportwatch", copy / "reportwatch",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))  # fmt: skip
        shutil.copy(ROOT / "pyproject.toml", copy)
        target = copy / "reportwatch" / bad_module
        target.write_text(target.read_text("utf-8") + f"\n{line}  # noqa\n", "utf-8")
        done = lint_imports(copy)
        assert done.returncode != 0, bad_module
        assert "BROKEN" in done.stdout


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("reportwatch", include_external_packages=False)
    modules = sorted(graph.modules)
    # Tarjan's strongly connected components: any component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert cycles == []


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after a fresh interpreter runs `code`."""
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\nimport json, sys\n{listing}"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)  # fmt: skip
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_poll_path_does_not_load_the_ui_stack() -> None:
    loaded = loaded_after(
        "from reportwatch.cli import build_parser\n"
        "from reportwatch.poll.cycle import run_cycle\n"
        "from reportwatch.poll.loop import watch"
    )
    assert "sqlalchemy" in loaded and "aiohttp" in loaded  # the probe did load the poll path
    assert not loaded & {"streamlit", "pandas", "plotly"}


def test_the_parse_worker_loads_only_the_parser() -> None:
    loaded = loaded_after(
        "from reportwatch.feeds import parsepool\nfrom reportwatch.feeds.parse import parse_job"
    )
    assert "feedparser" in loaded
    assert not loaded & {"sqlalchemy", "aiohttp", "streamlit", "pandas", "pydantic"}


def test_the_page_starts_the_embedded_poller_without_the_fetch_stack() -> None:
    loaded = loaded_after("from reportwatch.poll.loop import EmbeddedPoller")
    assert not loaded & {"aiohttp", "feedparser", "streamlit"}
