"""Database accounts for the two roles (``iblpipe db grant``).

analyst
    reads every pipeline schema (``<prefix>%``: SELECT, and REFERENCES so that
    their own tables may declare foreign keys to pipeline tables) and owns the
    schemas ``user_<name>_%`` (all privileges there, DROP included).
worker
    writes the pipeline schemas (``<prefix>%``): SELECT, INSERT, UPDATE, DELETE,
    CREATE, REFERENCES. That is exactly what populate, ingest and the nightly job
    use (tests/integration/test_roles_worker.py runs them as a worker): rows are
    inserted, updated in place and deleted; DataJoint 2.x creates each table's
    ``~~<table>`` jobs table lazily in its schema database on the first
    ``populate(reserve_jobs=True)`` (CREATE); REFERENCES lets a worker declare a
    table with foreign keys. No DROP (hence no TRUNCATE, which needs DROP), no
    ALTER and no INDEX: a worker cannot drop a table, a column or a foreign key,
    so it cannot break the schema every other user reads (``iblpipe status``
    fails for everyone once a foreign key is dropped). Declaring and changing the
    pipeline's tables (``BrainRegion`` needs ALTER for its binary collation) and
    dropping them is an administrator's job (``schemas.activate``/``schemas.drop``).

Neither role can touch the other's schemas. Grants use database-name patterns
(``GRANT ... ON `iblpipe\\_%`.*``) with ``_`` escaped, which MariaDB 10.11 and
MySQL 8 both honour (MySQL only while ``partial_revokes`` is OFF, its default;
this module checks). Passwords are passed as query arguments, never logged.
An existing account is refused unless its password is reset on purpose; then
the role's grants are re-applied and, for a worker, the privileges older
versions granted beyond them (``WORKER_REVOKED``) are revoked.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from dataclasses import dataclass

from iblpipe import settings
from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)

ANALYST, WORKER = "analyst", "worker"
ROLES = (ANALYST, WORKER)
ANALYST_SCHEMA_PREFIX = "user_{user}_"  # an analyst's own schemas: user_<name>_<anything>
ANALYST_PIPELINE_PRIVILEGES = ("SELECT", "REFERENCES")
WORKER_PRIVILEGES = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "REFERENCES",
)
# Privileges a worker never needs and older versions granted: revoked when its grants are re-applied.
WORKER_REVOKED = ("ALTER", "INDEX", "DROP", "CREATE TEMPORARY TABLES", "LOCK TABLES")
# Analyst names have no '_': `user_ann_` would otherwise be a prefix of `user_ann_b_`
# and Ann could write into the schemas of user ann_b. 32 is MySQL 8's limit on user names.
USER_PATTERNS = {ANALYST: re.compile(r"[a-z][a-z0-9]{0,31}"), WORKER: re.compile(r"[a-z][a-z0-9_]{0,31}")}
USER_RULES = {
    ANALYST: "a lowercase letter, then up to 31 lowercase letters or digits (no '_')",
    WORKER: "a lowercase letter, then up to 31 lowercase letters, digits or '_'",
}
HOST_PATTERN = re.compile(r"[A-Za-z0-9.%_:/-]{1,255}")  # names, IPs, netmasks, '%' wildcards
RESERVED_USERS = frozenset({"root", "mysql", "mariadb", "admin"})
PASSWORD_LENGTH = 24  # (characters) from letters, digits, '-' and '_': about 140 bits
PASSWORD_SYMBOLS = "-_"  # shell-safe; MySQL's validate_password wants one special character

ER_CANNOT_USER = 1396  # CREATE USER of an existing account (or ALTER/DROP of a missing one)


@dataclass(frozen=True)
class Granted:
    """What ``grant_role`` did to one account (never the password)."""

    role: str
    user: str
    host: str
    created: bool  # False: the account existed and its password was reset
    grants: tuple[str, ...]  # "PRIVILEGES ON `pattern`.*", one per database pattern

    @property
    def account(self) -> str:
        return f"'{self.user}'@'{self.host}'"


def database_pattern(prefix: str) -> str:
    r"""GRANT pattern matching every database starting with ``prefix`` (``iblpipe_`` → ``iblpipe\_%``)."""
    return prefix.replace("\\", "\\\\").replace("_", r"\_").replace("%", r"\%") + "%"


def analyst_prefix(user: str) -> str:
    """Prefix of an analyst's own schemas: ``user_<name>_``."""
    return ANALYST_SCHEMA_PREFIX.format(user=user)


def check_account(role: str, user: str, host: str = "%") -> None:
    """Raise ConfigError (one line) for an unknown role, an odd user name or host."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not USER_PATTERNS[role].fullmatch(user or ""):
        raise ConfigError(f"{role} name {user!r} is not allowed: use {USER_RULES[role]}")
    if user in RESERVED_USERS:
        raise ConfigError(f"{role} name {user!r} is reserved for administrators: choose another name")
    if not HOST_PATTERN.fullmatch(host or ""):
        raise ConfigError(f"host {host!r} is not allowed: use a host name, IP, netmask or '%' pattern")


def check_prefix(prefix: str) -> None:
    """Refuse a pipeline prefix overlapping the analysts' ``user_`` schemas (either role would reach them)."""
    space = ANALYST_SCHEMA_PREFIX.split("{", 1)[0]
    if prefix.startswith(space) or space.startswith(prefix):
        raise ConfigError(f"schema prefix {prefix!r} overlaps the analysts' schemas {space!r}*: choose another prefix")


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password with lower and upper case letters, digits and one of ``-_``."""
    alphabet = string.ascii_letters + string.digits + PASSWORD_SYMBOLS
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SYMBOLS)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(any(c in cls for c in password) for cls in classes):
            return password


def role_grants(role: str, user: str, prefix: str) -> list[tuple[str, str]]:
    """``(privileges, database pattern)`` pairs of a role."""
    pipeline = database_pattern(prefix)
    if role == ANALYST:
        return [
            (", ".join(ANALYST_PIPELINE_PRIVILEGES), pipeline),
            ("ALL PRIVILEGES", database_pattern(analyst_prefix(user))),
        ]
    return [(", ".join(WORKER_PRIVILEGES), pipeline)]


def grant_role(
    conn,
    role: str,
    user: str,
    *,
    password: str,
    prefix: str | None = None,
    host: str = "%",
    reset_password: bool = False,
) -> Granted:
    """Create ``user@host`` with ``password`` and give it ``role`` on the schemas under ``prefix``.

    Parameters
    ----------
    conn : pymysql.connections.Connection
        An administrator's connection (CREATE USER and GRANT OPTION on the patterns).
    role : str
        ``"analyst"`` or ``"worker"``.
    user, host : str
        The account; ``host`` is where it may connect from (``%``: anywhere).
    password : str
        The account's password (see ``generate_password``); sent as a query argument only.
    prefix : str, optional
        Pipeline schema prefix (default: ``settings.schema_prefix()``).
    reset_password : bool
        For an existing account: set ``password`` and (re)apply the role's grants.
        Without it an existing account is refused and left unchanged.

    Returns
    -------
    Granted
        The account, whether it was created, and the grants applied.

    Raises
    ------
    ConfigError
        Bad names, an existing account without ``reset_password``, an existing account
        holding the other role or server-wide privileges, the connected account itself,
        or missing admin privileges.
    """
    import pymysql

    prefix = settings.schema_prefix(prefix)
    check_account(role, user, host)
    check_prefix(prefix)
    if not password or "\n" in password:
        raise ConfigError("the password must be one non-empty line")
    account = f"'{user}'@'{host}'"
    grants = role_grants(role, user, prefix)
    try:
        _check_wildcard_grants(conn)
        _check_not_self(conn, user, host)
        created = _create_user(conn, user, host, password)
        if not created:
            if not reset_password:
                raise ConfigError(
                    f"account {account} already exists; nothing was changed. Pass --reset-password to set a "
                    f"new password and re-apply the {role} grants (existing grants are kept)"
                )
            _check_existing_account(conn, role, user, host, prefix)
            _execute(conn, "ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
        try:
            for privileges, pattern in grants:
                _execute(conn, f"GRANT {privileges} ON `{_percent(pattern)}`.* TO %s@%s", (user, host))
            if role == WORKER and not created:
                pattern = _percent(grants[0][1])
                _execute(conn, f"REVOKE {', '.join(WORKER_REVOKED)} ON `{pattern}`.* FROM %s@%s", (user, host))
        except pymysql.err.MySQLError:
            if created:  # no half-made account whose password nobody has seen
                _drop_quietly(conn, user, host)
            raise
    except pymysql.err.MySQLError as exc:
        raise ConfigError(f"cannot grant {role} to {account}: {_reason(exc, password)}") from None
    applied = tuple(f"{privileges} ON `{pattern}`.*" for privileges, pattern in grants)
    logger.info("%s %s as %s: %s", "created" if created else "reset password of", account, role, "; ".join(applied))
    return Granted(role=role, user=user, host=host, created=created, grants=applied)


def _percent(sql_fragment: str) -> str:
    """Double ``%`` for pymysql's argument formatting."""
    return sql_fragment.replace("%", "%%")


def _execute(conn, sql: str, args: tuple) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def _reason(exc, password: str) -> str:
    code = exc.args[0] if exc.args else "?"
    message = str(exc.args[1] if len(exc.args) > 1 else exc).replace(password, "***")
    hint = ""
    if code in (1044, 1045, 1142, 1227, 1410):
        hint = "; connect as an administrator with CREATE USER and GRANT OPTION (e.g. DJ_USER=root)"
    return f"({code}) {message}{hint}"


def _check_wildcard_grants(conn) -> None:
    """MySQL 8 with ``partial_revokes=ON`` reads ``%`` and ``_`` in GRANTs literally: refuse."""
    rows = _execute(conn, "SHOW VARIABLES LIKE %s", ("partial_revokes",))
    if rows and str(rows[0][1]).upper() in ("ON", "1"):
        raise ConfigError(
            "the server has partial_revokes=ON, so GRANT ... ON `prefix\\_%`.* would not match the schemas; "
            "grant per schema by hand or turn partial_revokes off"
        )


def _check_not_self(conn, user: str, host: str) -> None:
    current = _execute(conn, "SELECT CURRENT_USER()", ())[0][0]
    if current == f"{user}@{host}":
        raise ConfigError(f"refusing to change the account this command is connected as ({current})")


def _create_user(conn, user: str, host: str, password: str) -> bool:
    """CREATE USER; False (and nothing changed) when the account exists."""
    import pymysql

    try:
        _execute(conn, "CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] == ER_CANNOT_USER:
            return False
        raise
    return True


def _drop_quietly(conn, user: str, host: str) -> None:
    import pymysql

    try:
        _execute(conn, "DROP USER %s@%s", (user, host))
    except pymysql.err.MySQLError as exc:
        logger.warning("could not drop the half-made account '%s'@'%s': %s", user, host, exc)


def _check_existing_account(conn, role: str, user: str, host: str, prefix: str) -> None:
    """Refuse to reset an account with server-wide privileges or holding the other role.

    SHOW GRANTS lines may carry a password hash (MariaDB): they are matched, never logged.
    """
    lines = [row[0] for row in _execute(conn, "SHOW GRANTS FOR %s@%s", (user, host))]
    account = f"'{user}'@'{host}'"
    if any(" ON *.* " in line and not line.startswith("GRANT USAGE ON *.*") for line in lines):
        raise ConfigError(f"{account} holds server-wide privileges (an administrator?); not changing it")
    own = f"`{database_pattern(analyst_prefix(user))}`"
    if role == WORKER and any(own in line for line in lines):
        raise ConfigError(f"{account} is an analyst (owns {own}); create a separate worker account")
    pipeline = f"ON `{database_pattern(prefix)}`"
    writes = ("INSERT", "UPDATE", "DELETE", "ALL PRIVILEGES")
    if role == ANALYST and any(pipeline in line and any(w in line for w in writes) for line in lines):
        raise ConfigError(f"{account} writes the pipeline schemas (a worker); create a separate analyst account")
