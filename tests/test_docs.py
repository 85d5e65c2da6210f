"""Docs are part of the product: every ```python block runs, reference pages are complete."""

from __future__ import annotations

import inspect
import pathlib
import re

import pytest

from casekit import exceptions, hookspecs
from casekit.model.events import EVENT_TYPES
from casekit.model.lifecycle import TASK_TRANSITIONS, TRANSITIONS

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: pathlib.Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "path", [p for p in [*DOCS, ROOT / "README.md"] if python_blocks(p)], ids=lambda p: p.name
)
def test_code_blocks_run(
    path: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for number, block in enumerate(python_blocks(path), start=1):
        code = compile(block, f"{path.relative_to(ROOT)} block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - executing our own documentation


def test_docs_have_the_four_kinds() -> None:
    for kind in ("tutorial", "how-to", "reference", "explanation"):
        assert any(kind in p.relative_to(ROOT / "docs").parts[0] for p in DOCS), kind


def test_every_event_is_documented() -> None:
    text = (ROOT / "docs/reference/events.md").read_text(encoding="utf-8")
    for cls in EVENT_TYPES:
        assert f"`{cls.name}`" in text, f"{cls.name} missing from docs/reference/events.md"
        assert f"`{cls.__name__}`" in text


def test_every_exception_is_documented() -> None:
    text = (ROOT / "docs/reference/exceptions.md").read_text(encoding="utf-8")
    for name in exceptions.__all__:
        assert f"`{name}`" in text, f"{name} missing from docs/reference/exceptions.md"


def test_every_hook_is_documented_with_its_signature() -> None:
    text = (ROOT / "docs/reference/hooks.md").read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if name.startswith("casekit_")]
    assert hooks
    for name in hooks:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"{name}({params})" in text, f"{name}({params}) missing from hooks.md"


def test_every_hook_is_exercised_by_a_test() -> None:
    # Tests, and the docs' examples (executed above), each implement every hook somewhere.
    sources = [
        path.read_text(encoding="utf-8")
        for path in [*(ROOT / "tests").rglob("*.py"), *DOCS]
        if path.name != "test_docs.py"
    ]
    for name in (name for name in dir(hookspecs) if name.startswith("casekit_")):
        assert any(f"def {name}(" in text for text in sources), f"no test implements {name}"


def test_transition_tables_match_the_code() -> None:
    text = (ROOT / "docs/reference/lifecycle.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \| (.+?) \| `(\w+)` \|", text, re.MULTILINE))
    expected_case = {
        (action.value, ", ".join(f"`{s.value}`" for s in sorted(sources)), target.value)
        for action, (sources, target) in TRANSITIONS.items()
    }
    expected_task = {
        (action, ", ".join(f"`{s.value}`" for s in sorted(sources)), target.value)
        for action, (sources, target) in TASK_TRANSITIONS.items()
    }
    assert expected_case <= rows, expected_case - rows
    assert expected_task <= rows, expected_task - rows


def test_readme_has_exactly_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^```(?:sh|bash|console)\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert len(commands) == 2, commands
    demo, tests = (c.strip() for c in commands)
    assert "casekit demo" in demo
    assert "pytest" in tests
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert tests.rsplit("&& ", 1)[-1] in ci, "CI must run the README's test command"


def test_links_between_docs_resolve() -> None:
    for path in [*DOCS, ROOT / "README.md"]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", path.read_text("utf-8")):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_desk_reference_lists_every_public_method() -> None:
    from casekit import Desk  # noqa: PLC0415

    text = (ROOT / "docs/reference/desk.md").read_text(encoding="utf-8")
    public = [
        name
        for name, value in vars(Desk).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, classmethod))
    ]
    missing = [name for name in public if f"- `{name}(" not in text]
    assert not missing, f"docs/reference/desk.md lacks {missing}"
