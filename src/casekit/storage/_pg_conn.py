"""Connections of :class:`~casekit.storage.postgres.PostgresStore`: the URL, the pool,
the errors, and the statements' schema.

* :func:`parse_url` splits casekit's options (``schema``, ``min_size``, ``max_size``,
  ``timeout``, ``claim_lease``) from a ``postgresql://`` URL; the rest of the URL goes
  to libpq as it is (``sslmode``, ``connect_timeout``, ``application_name``, ...).
* :class:`Database` holds the pool (opened explicitly) and hands out :class:`_Conn`
  objects: a read is retried once on a fresh connection when the connection was lost
  (reads change nothing, so a retry is safe); a write runs in one transaction, and a
  connection lost in it raises :class:`~casekit.exceptions.StoreError` (the server
  rolls the transaction back: nothing of it is committed).
* A host may bind its own psycopg connection to the current thread
  (:meth:`Database.bind`): casekit's writes then run as savepoints inside the host's
  transaction and commit or roll back with it.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Final, LiteralString, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from casekit.exceptions import InvalidValue, StoreError

__all__ = ["Database", "DatabaseUnavailable", "parse_url"]

T = TypeVar("T")


class DatabaseUnavailable(StoreError):
    """The PostgreSQL server cannot be reached or refused the connection (wrong host or
    port, server down, wrong password, unknown database or role).

    Attributes:
        host: The host (or socket folder) connected to.
        database: The database name.
    """

    def __init__(self, host: str, database: str, detail: str) -> None:
        self.host = host
        self.database = database
        super().__init__(f"cannot connect to PostgreSQL at {host}, database {database!r}: {detail}")


_SCHEMA_LIMIT: Final = 63  # NAMEDATALEN - 1 bytes


def check_schema(value: object, where: str) -> str:
    """A schema name: 1 to 63 bytes of text without NUL, not one of PostgreSQL's own."""
    if not isinstance(value, str) or not value:
        raise InvalidValue(f"must be a non-empty schema name, not {value!r}", where=where)
    if "\x00" in value:
        raise InvalidValue(f"{value!r} contains a NUL character", where=where)
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidValue(f"{value!r} is not valid text: {exc.reason}", where=where) from None
    if size > _SCHEMA_LIMIT:
        raise InvalidValue(f"{value!r} is longer than {_SCHEMA_LIMIT} bytes", where=where)
    if value.lower().startswith("pg_") or value == "information_schema":
        raise InvalidValue(f"{value!r} is a name PostgreSQL reserves", where=where)
    return value


def check_size(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise InvalidValue(f"must be a whole number from 0 to 1000, not {value!r}", where=where)
    return value


def check_seconds(value: object, where: str, *, positive: bool = False) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValue(f"must be a number of seconds, not {value!r}", where=where)
    if value < 0 or (positive and value == 0) or value > 86_400 * 365:
        raise InvalidValue(f"is out of range: {value!r} seconds", where=where)
    return float(value)


def _number(parse: Callable[[str], object]) -> Callable[[str, str], object]:
    def read(text: str, where: str) -> object:
        try:
            return parse(text)
        except ValueError:
            raise InvalidValue(f"is not a number: {text!r}", where=where) from None

    return read


def _int_option(text: str, where: str) -> int:
    return check_size(_number(int)(text, where), where)


def _seconds_option(text: str, where: str) -> float:
    return check_seconds(_number(float)(text, where), where)


def _lease_option(text: str, where: str) -> timedelta:
    return timedelta(seconds=check_seconds(_number(float)(text, where), where, positive=True))


_URL_OPTIONS: Final[dict[str, Callable[[str, str], object]]] = {
    "schema": check_schema,
    "min_size": _int_option,
    "max_size": _int_option,
    "timeout": _seconds_option,
    "claim_lease": _lease_option,
}


def parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """Split a ``postgresql://`` (or ``postgres://``) URL into libpq's URL and casekit's
    keyword arguments.

    Raises:
        InvalidValue: Not such a URL, or one of casekit's parameters is bad or repeated
            (``where`` names it, e.g. ``"postgresql store URL ?schema"``).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise InvalidValue(
            f"{url!r} is not a postgresql:// URL "
            "(postgresql://user@host:5432/database?schema=casekit)",
            where="postgresql store URL",
        )
    base, _, query = rest.partition("?")
    options: dict[str, Any] = {}
    passed: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _URL_OPTIONS:
            passed.append((name, value))
            continue
        where = f"postgresql store URL ?{name}"
        if name in options:
            raise InvalidValue(f"{url!r} gives {name!r} twice", where=where)
        options[name] = _URL_OPTIONS[name](value, where)
    conninfo = f"postgresql://{base}"
    if passed:
        # %20, not "+", for a space: libpq does not decode "+"
        conninfo += "?" + urlencode(passed, quote_via=quote)
    return conninfo, options


def describe(conninfo: str) -> tuple[str, str]:
    """The host (with port) and database a conninfo names, for messages."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "?", "?"
    host = str(params.get("host") or params.get("hostaddr") or "the local socket")
    if params.get("port"):
        host += f":{params['port']}"
    database = str(params.get("dbname") or params.get("user") or "(default)")
    return host, database


_PASSWORD: Final = re.compile(r"(password=)\S+|(://[^:/@]*:)[^@]*@")


def _redact(text: str) -> str:
    return _PASSWORD.sub(lambda m: (m[1] or m[2]) + "***" + ("" if m[1] else "@"), text)


class _Conn:
    """A connection whose statements name casekit's tables as ``{s}.table``."""

    __slots__ = ("_statements", "conn")

    def __init__(self, conn: psycopg.Connection[Any], statements: Callable[[str], Any]) -> None:
        self.conn = conn
        self._statements = statements

    def execute(
        self, template: str, params: Sequence[object] | dict[str, object] = ()
    ) -> psycopg.Cursor[Any]:
        # Always with parameters (even none), so that psycopg reads "%%" in a quoted
        # schema name as "%" in every statement alike.
        return self.conn.execute(self._statements(template), params, prepare=None)

    def executemany(self, template: str, rows: Iterable[Sequence[object]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._statements(template), rows)


def _transient(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection broke (not that the statement failed)."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    )


_IDLE: Final = psycopg.pq.TransactionStatus.IDLE


@contextmanager
def _pipelined(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """One transaction on an autocommit connection in pipeline mode: ``BEGIN`` goes
    out with the first statements, ``COMMIT`` with the last (one round trip for both
    unless the block reads a result in between). On any failure, of the block or of
    the commit, the transaction is rolled back (after a failed statement the server
    skips the rest, the ``COMMIT`` too, up to the pipeline's sync), and a connection
    left in pipeline mode is closed."""
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            yield
            conn.execute("COMMIT")
    except BaseException:
        if conn.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF:
            # Interrupted inside psycopg's own pipeline steps (a signal as it entered
            # or left pipeline mode): still in that mode, the connection would make a
            # later read's failed statement abort the statements after it. Closed (the
            # server rolls back), the pool replaces it.
            conn.close()
        elif conn.pgconn.status == psycopg.pq.ConnStatus.OK and (
            conn.info.transaction_status != _IDLE
        ):
            with contextlib.suppress(psycopg.Error):  # the pool discards a broken one
                conn.rollback()
        raise


class Database:
    """The pool of one store and the statements in its schema."""

    def __init__(
        self, conninfo: str, schema: str, *, min_size: int, max_size: int, timeout: float
    ) -> None:
        self.host, self.database = describe(conninfo)
        self.timeout = timeout
        self._local = threading.local()
        self._cache: dict[str, LiteralString] = {}
        self._probe(conninfo)
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max(max_size, min_size, 1),
            kwargs={"autocommit": True},
            open=False,
            timeout=timeout,
            name=f"casekit-{schema}",
        )
        try:
            self.pool.open(wait=min_size > 0, timeout=timeout)
        except PoolTimeout as exc:
            self.pool.close()
            raise DatabaseUnavailable(self.host, self.database, _redact(str(exc))) from None
        self.quoted = sql.Identifier(schema).as_string(None)
        # in statement templates, which psycopg parses for placeholders ("%" -> "%%")
        self._in_statements = self.quoted.replace("%", "%%")
        self.closed = False

    def _probe(self, conninfo: str) -> None:
        """Connect once, to report a bad URL, host, password or database precisely."""
        try:
            conn = psycopg.connect(conninfo, connect_timeout=max(1, int(self.timeout)))
        except psycopg.ProgrammingError as exc:
            raise InvalidValue(
                f"is not a valid connection string: {_redact(str(exc))}",
                where="postgresql store URL",
            ) from None
        except psycopg.Error as exc:
            detail = _redact(str(exc).strip()) or type(exc).__name__
            raise DatabaseUnavailable(self.host, self.database, detail) from None
        conn.close()

    def statement(self, template: str) -> LiteralString:
        text = self._cache.get(template)
        if text is None:
            text = self._cache[template] = template.replace("{s}", self._in_statements)
        return text

    def close(self) -> None:
        self.closed = True
        self.pool.close()

    # --- host transactions ------------------------------------------------------------

    @contextmanager
    def bind(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        previous = getattr(self._local, "conn", None)
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = previous

    def _bound(self) -> psycopg.Connection[Any] | None:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        return conn

    # --- running statements -----------------------------------------------------------

    def _fail(self, exc: psycopg.Error, what: str, *, write: bool = False) -> StoreError:
        if isinstance(exc, PoolTimeout):
            return StoreError(
                f"no connection to PostgreSQL at {self.host}, database {self.database!r} "
                f"became free within {self.timeout:g} s (raise max_size?)"
            )
        if _transient(exc):
            outcome = (
                " (PostgreSQL rolled the transaction back, unless the connection broke "
                "while committing it: reload to see whether it landed)"
                if write
                else ""
            )
            return StoreError(
                f"lost the connection to PostgreSQL at {self.host}, database "
                f"{self.database!r} during {what}: {_redact(str(exc)).strip()}{outcome}"
            )
        return StoreError(
            f"PostgreSQL error at {self.host}, database {self.database!r} during {what}: "
            f"{_redact(str(exc)).strip()}"
        )

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(
                f"the PostgreSQL store at {self.host}, database {self.database!r} is closed"
            )

    def read(self, work: Callable[[_Conn], T]) -> T:
        """Run ``work`` on a connection; retried once if the connection was lost."""
        self._check_open()
        bound = self._bound()
        if bound is not None:
            try:
                return work(_Conn(bound, self.statement))
            except psycopg.Error as exc:
                raise self._fail(exc, "a read") from exc
        for attempt in (1, 2):
            try:
                with self.pool.connection() as conn:
                    return work(_Conn(conn, self.statement))
            except psycopg.Error as exc:
                if attempt == 1 and _transient(exc) and not isinstance(exc, PoolTimeout):
                    # The server went away or restarted: the other idle connections
                    # are probably dead too; drop them, and try once more.
                    self._recheck()
                    continue
                raise self._fail(exc, "a read") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _recheck(self) -> None:
        with contextlib.suppress(psycopg.Error):  # the retry reports a failure
            self.pool.check()

    @contextmanager
    def write(
        self,
        what: str = "a write",
        *,
        pipeline: bool = False,
        translate: Callable[[psycopg.Error], BaseException | None] | None = None,
    ) -> Iterator[_Conn]:
        """One transaction (a savepoint in a bound host connection's transaction).

        With ``pipeline``, a pooled connection sends the statements in pipeline mode:
        each goes out at once, and the client waits only where the block reads a
        result (``fetchone``: the server runs everything sent so far) and for the
        ``COMMIT``, which travels with the statements after the last read. The block
        must read what it decides on (a version check) before it returns, as without.
        ``translate`` maps an error of the database (raised by a statement or by the
        commit) to the exception to raise instead (``None``: a StoreError as usual).
        """
        self._check_open()
        bound = self._bound()
        try:
            if bound is not None:
                if (
                    not bound.autocommit
                    and bound.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                ):
                    # Nothing ran on the host's connection yet: start the host's
                    # (implicit) transaction, so that ours is a savepoint inside it
                    # rather than a transaction of its own that commits at once.
                    bound.execute("SELECT 1")
                with bound.transaction():
                    yield _Conn(bound, self.statement)
                return
            if pipeline:
                with self.pool.connection() as conn, _pipelined(conn):
                    yield _Conn(conn, self.statement)
                return
            with self.pool.connection() as conn, conn.transaction():
                yield _Conn(conn, self.statement)
        except psycopg.Error as exc:
            mapped = None if translate is None else translate(exc)
            if mapped is not None:
                raise mapped from None
            if _transient(exc) and not isinstance(exc, PoolTimeout):
                self._recheck()  # so that the next call gets a live connection
            raise self._fail(exc, what, write=True) from exc
