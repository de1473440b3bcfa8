"""Which tables a worker runs (``--tables``) and which of their keys (``--restrict``)."""

from __future__ import annotations

from collections.abc import Sequence

from iblpipe.errors import ConfigError


def auto_tables() -> list:
    """Every auto-populated master table, in pipeline order: schema modules in order, tables as defined.

    That order is a valid dependency order (a table is declared after the tables it references) and also
    honours key sources that read a table defined before them (``LearningCurve`` needs ``TrainingStatus``).
    """
    import datajoint as dj

    from iblpipe import schemas

    return [t for mod in schemas.modules() for t in schemas.tables(mod) if issubclass(t, dj.Imported | dj.Computed)]


def table_label(table) -> str:
    """``schema.Table`` as users write it (``behavior.Trials``), for a table class or instance."""
    from iblpipe import schemas

    return schemas.table_label(table)


def select_tables(selection: Sequence[str] = ("all",)) -> list:
    """The tables named: ``all``, schema names (``behavior``), ``schema.Table`` or ``Table`` (case-insensitive).

    Returned in dependency order whatever the order given. Unknown names raise ConfigError listing the valid ones.
    """
    tables = auto_tables()
    if isinstance(selection, str):
        raise TypeError(
            "select_tables takes a sequence of names; split a --tables text with commands._common.parse_tables"
        )
    words = [w.strip() for w in selection if w.strip()]
    if not words or "all" in words:
        return tables
    chosen = set()
    for word in words:
        hits = [
            t
            for t in tables
            if word in (table_label(t), t.__name__, table_label(t).split(".")[0])
            or word.lower() == table_label(t).lower()
        ]
        if not hits:
            valid = sorted({table_label(t).split(".")[0] for t in tables} | {table_label(t) for t in tables})
            raise ConfigError(f"--tables: unknown table or schema {word!r}; choose from all, {', '.join(valid)}")
        chosen.update(hits)
    return [t for t in tables if t in chosen]


RESTRICT_KEYS = ("subject", "lab", "session")  # --restrict subject=NICK, lab=NAME, session=UUID


def sessions_matching(restrict: dict[str, str]):
    """The sessions (``session_uuid, subject_uuid, session_lab``) selected by a restriction ``{subject|lab|session: value}``."""
    from iblpipe.schemas import acquisition, subject

    sessions = acquisition.Session.proj("subject_uuid", "session_lab")
    if "session" in restrict:
        sessions &= {"session_uuid": restrict["session"]}
    if "lab" in restrict:
        sessions &= {"session_lab": restrict["lab"]}
    if "subject" in restrict:
        sessions &= subject.Subject & {"subject_nickname": restrict["subject"]}
    return sessions


def restriction_for(table, restrict: dict[str, str]):
    """The restriction of ``table``'s key source matching ``restrict`` (None = everything).

    Each table's key source holds a session, a probe insertion or a subject; the
    user's subject/lab/session condition is turned into the matching set of those.
    """
    if not restrict:
        return None
    from iblpipe.schemas import ephys, subject

    sessions = sessions_matching(restrict)
    heading = table.key_source.heading.names
    if "session_uuid" in heading:
        return sessions.proj()
    if "probe_insertion_uuid" in heading:
        return (ephys.ProbeInsertion & sessions).proj()
    if "subject_uuid" in heading:
        return subject.Subject.proj() & sessions
    raise ConfigError(f"--restrict cannot select keys of {table_label(table)} (no session, insertion or subject)")
