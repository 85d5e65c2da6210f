"""The playbooks a desk knows, every version of each."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from casekit.exceptions import InvalidDefinition, PlaybookNotFound
from casekit.playbook._definition import Playbook, SubPlaybook

__all__ = ["PlaybookLibrary", "PlaybookNotFound"]


class PlaybookLibrary:
    """Playbook definitions by name and version.

    A running playbook stays on the version it started with, so keep the versions that
    runs may still be on; a new run starts on the latest. Adding a definition under a
    name and version already loaded with other content is refused: change a playbook
    by adding a version.

    Raises:
        InvalidDefinition: (when adding) a changed definition under a loaded version,
            or a sub-playbook that names an unknown playbook or includes itself.
    """

    def __init__(self, playbooks: Iterable[Playbook] = ()) -> None:
        self._versions: dict[str, dict[int, Playbook]] = {}
        self._checking = False  # the given playbooks may name each other in any order
        for playbook in playbooks:
            self.add(playbook)
        self.check()
        self._checking = True

    def add(self, playbook: Playbook) -> None:
        """Load ``playbook`` (a version already loaded with the same content is ignored).

        Raises:
            InvalidDefinition: Other content under a loaded version, or (once the
                library is built) a sub-playbook naming an unknown playbook or running
                itself; the library is left as it was.
        """
        if not isinstance(playbook, Playbook):
            raise InvalidDefinition(
                f"expected a Playbook, got {type(playbook).__name__}", where="playbooks"
            )
        versions = self._versions.setdefault(playbook.name, {})
        loaded = versions.get(playbook.version)
        if loaded is not None and loaded != playbook:
            raise InvalidDefinition(
                f"playbook {playbook.name!r} v{playbook.version} is already loaded with other "
                "content; runs in flight follow the loaded one, so give the change a new version",
                where=f"playbook[{playbook.name}].version",
            )
        versions[playbook.version] = playbook
        if self._checking and loaded is None:
            try:
                self.check()
            except InvalidDefinition:
                del versions[playbook.version]
                if not versions:
                    del self._versions[playbook.name]
                raise

    @classmethod
    def from_files(cls, paths: Iterable[str | os.PathLike[str]]) -> PlaybookLibrary:
        """Load TOML playbook files (a folder loads its ``*.toml`` files)."""
        playbooks: list[Playbook] = []
        for given in paths:
            path = Path(given)
            files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
            playbooks.extend(Playbook.from_toml(file) for file in files)
        return cls(playbooks)

    def check(self) -> None:
        """Check the references between playbooks (sub-playbooks), every problem at once."""
        problems: list[str] = []
        for playbook in self:
            for stage, activity in playbook.activities():
                if isinstance(activity, SubPlaybook) and activity.playbook not in self._versions:
                    problems.append(
                        f"playbook[{playbook.name}].stages[{stage.id}].activities"
                        f"[{activity.id}].playbook: unknown playbook {activity.playbook!r}"
                    )
        problems.extend(self._recursion())
        if problems:
            raise InvalidDefinition("the playbooks refer to each other wrongly", errors=problems)

    def _recursion(self) -> Iterator[str]:
        calls = {
            name: {
                a.playbook
                for p in versions.values()
                for _, a in p.activities()
                if isinstance(a, SubPlaybook)
            }
            for name, versions in self._versions.items()
        }
        for start in sorted(calls):
            path = [start]
            seen: set[str] = set()
            todo = [(start, path)]
            while todo:
                node, route = todo.pop()
                for callee in sorted(calls.get(node, ())):
                    if callee == start:
                        yield (
                            f"playbook[{start}]: runs itself as a sub-playbook "
                            f"({' -> '.join([*route, callee])})"
                        )
                        todo = []
                        break
                    if callee not in seen:
                        seen.add(callee)
                        todo.append((callee, [*route, callee]))

    def __iter__(self) -> Iterator[Playbook]:
        for name in sorted(self._versions):
            for version in sorted(self._versions[name]):
                yield self._versions[name][version]

    def __len__(self) -> int:
        return sum(len(v) for v in self._versions.values())

    def names(self) -> list[str]:
        return sorted(self._versions)

    def latest(self, name: str) -> Playbook:
        """The latest version of ``name``.

        Raises:
            PlaybookNotFound: None is loaded.
        """
        versions = self._versions.get(name)
        if not versions:
            raise PlaybookNotFound(name)
        return versions[max(versions)]

    def get(self, name: str, version: int) -> Playbook | None:
        """That version, or ``None`` if it is not loaded."""
        return self._versions.get(name, {}).get(version)

    def for_category(self, category: str | None) -> list[Playbook]:
        """The latest version of each playbook a case of ``category`` starts."""
        if category is None:
            return []
        out = []
        for name in sorted(self._versions):
            latest = self.latest(name)
            if category in latest.categories:
                out.append(latest)
        return out
