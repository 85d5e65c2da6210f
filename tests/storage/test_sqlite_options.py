"""SQLiteStore's options, given as arguments or as URL parameters: every bad value is
an InvalidValue naming the parameter, never a raw ValueError/OverflowError."""

from __future__ import annotations

import math
import pathlib

import pytest

from casekit import InvalidValue
from casekit.storage.sqlite import SQLiteStore


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("timeout=nan", "timeout"),
        ("timeout=inf", "timeout"),
        ("timeout=-inf", "timeout"),
        ("timeout=-1", "timeout"),
        ("timeout=1e300", "timeout"),
        ("timeout=", "timeout"),
        ("timeout=soon", "timeout"),
        ("timeout=1&timeout=2", "timeout"),
        ("colour=blue", "colour"),
    ],
)
def test_bad_url_parameters_are_named(query: str, parameter: str, tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///x.db?{query}"
    with pytest.raises(InvalidValue) as info:
        SQLiteStore.from_url(url)
    assert parameter in info.value.where
    assert repr(url) in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing was created


@pytest.mark.parametrize("path", ["x\x00y.db", "\ud800.db", "dir/\udcff\x00.db"])
def test_unusable_paths_are_refused(path: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidValue) as info:
        SQLiteStore.from_url(f"sqlite:///{path}")
    assert "path" in info.value.where
    with pytest.raises(InvalidValue) as info:
        SQLiteStore(path)
    assert info.value.where == "SQLiteStore.path"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, -0.5, 1e300, True, "5"])
def test_bad_timeout_arguments_are_refused(timeout: object) -> None:
    with pytest.raises(InvalidValue) as info:
        SQLiteStore("x.db", timeout=timeout)  # type: ignore[arg-type]
    assert info.value.where == "SQLiteStore.timeout"


def test_path_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(InvalidValue) as info:
        SQLiteStore(b"x.db")  # type: ignore[arg-type]
    assert info.value.where == "SQLiteStore.path"


@pytest.mark.parametrize("timeout", [0, 0.25, 7, 2_147_483])
def test_good_timeouts_are_kept(timeout: float) -> None:
    store = SQLiteStore.from_url(f"sqlite:///x.db?timeout={timeout}")
    try:
        assert store.timeout == timeout
        with store._connection() as conn:
            busy = conn.execute("PRAGMA busy_timeout").fetchall()[0][0]
        assert busy == int(timeout * 1000)
    finally:
        store.close()
