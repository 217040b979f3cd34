"""The shape of the `seqtasks` package: shared packages never import the tasks, tasks never import each other,
and every task folder has the same modules with the same class names (see the README's "Adding a task")."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import seqtasks
from seqtasks.runtime.export import ServingModule
from seqtasks.runtime.preprocessor import Preprocessor
from seqtasks.runtime.registry import BUILTIN_TASKS
from seqtasks.runtime.task import Task

PACKAGE = Path(seqtasks.__file__).parent
# Packages the tasks are built from: none of them may depend on a task. (`diagnostics` and `cli` sit above the
# tasks: the memory sweep trains the memory task.)
SHARED = ("audio", "data", "decoding", "layers", "losses", "metrics", "portable", "runtime", "tokenizers")
TASK_MODULES = {"__init__", "config", "data", "preprocessor", "model", "task", "export"}


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top level or inside a function (`from x import y` gives `x` and `x.y`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def task_folders() -> list[Path]:
    return sorted(p for p in (PACKAGE / "tasks").iterdir() if (p / "__init__.py").is_file())


@pytest.mark.parametrize("package", SHARED)
def test_shared_packages_do_not_import_tasks(package):
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in imported_modules(path) if m.startswith("seqtasks.tasks"))
        for path in (PACKAGE / package).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_a_task_imports_no_other_task():
    names = {folder.name for folder in task_folders()}
    for folder in task_folders():
        for path in folder.glob("*.py"):
            others = {
                m.split(".")[2]
                for m in imported_modules(path)
                if m.startswith("seqtasks.tasks.") and m.split(".")[2] in names - {folder.name}
            }
            assert not others, f"{path.relative_to(PACKAGE)} imports the task(s) {sorted(others)}"


@pytest.mark.parametrize("folder", task_folders(), ids=lambda p: p.name)
def test_every_task_folder_has_the_same_modules(folder):
    assert {p.stem for p in folder.glob("*.py")} == TASK_MODULES
    assert not [p for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"]


@pytest.mark.parametrize("name", sorted(BUILTIN_TASKS))
def test_every_task_follows_the_class_name_pattern(name):
    camel = "".join(part.capitalize() for part in name.split("_"))
    package = BUILTIN_TASKS[name]
    task = getattr(importlib.import_module(f"{package}.task"), f"{camel}Task")
    config = getattr(importlib.import_module(f"{package}.config"), f"{camel}Config")
    preprocessor = getattr(importlib.import_module(f"{package}.preprocessor"), f"{camel}Preprocessor")
    serving = getattr(importlib.import_module(f"{package}.export"), f"{camel}Serving")
    assert issubclass(task, Task) and task.name == name
    assert task.config_class is config
    assert task.preprocessor_class is preprocessor and issubclass(preprocessor, Preprocessor)
    assert issubclass(serving, ServingModule)
    for section in ("data", "model", "train", "eval"):
        # A section the task does not extend is the shared one (`TrainConfig`); one it extends is `<Task>TrainConfig`.
        name_of = type(getattr(config(), section)).__name__
        assert name_of in (f"{section.capitalize()}Config", f"{camel}{section.capitalize()}Config"), name_of
