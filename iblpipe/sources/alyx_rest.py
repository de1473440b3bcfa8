"""Read Alyx metadata over REST with ONE's ``AlyxClient`` (paginated lists, token auth).

REST lists name related rows (lab, subject nickname, users, water type) instead of
giving their pks; this module turns them into the same records as the dump.
"""

from __future__ import annotations

import logging
import os

from iblpipe.errors import SourceError
from iblpipe.sources import alyx_fields as A
from iblpipe.sources import records as R

logger = logging.getLogger(__name__)

ENDPOINTS = (
    "labs",
    "users",
    "projects",
    "subjects",
    "sessions",
    "weighings",
    "water-administrations",
    "water-restrictions",
    "insertions",
    "trajectories",
)
PAGE_SIZE = 1000  # (records) per REST request


def fetch(base_url: str, *, username: str | None = None, password: str | None = None, cache_dir=None) -> dict:
    """The raw JSON lists of every endpoint, fetched through ``one.webclient.AlyxClient``."""
    from one.webclient import AlyxClient

    try:
        client = AlyxClient(
            base_url=base_url.rstrip("/"),
            username=username,
            password=password,
            cache_dir=cache_dir,
            silent=True,
            cache_rest=None,
        )
        out = {}
        for endpoint in ENDPOINTS:
            rep = client.get(f"/{endpoint}?limit={PAGE_SIZE}", clobber=True)
            out[endpoint] = list(rep)
            logger.info("fetched %d %s from %s", len(out[endpoint]), endpoint, base_url)
    except Exception as err:  # requests, ONE and HTTP errors all mean the same: cannot read the source
        raise SourceError(f"cannot read Alyx at {base_url}: {type(err).__name__}: {err}") from None
    return out


def read_rest(base_url: str, *, username: str | None = None, password: str | None = None, cache_dir=None):
    """Every mirrored record of the Alyx database at ``base_url``, checked (``records.finalize``).

    Credentials: ``username``/``password`` or ONE's stored ones (``one.params``). Password
    defaults to ``$ALYX_PASSWORD``.
    """
    password = password if password is not None else os.environ.get("ALYX_PASSWORD")
    raw = fetch(base_url, username=username, password=password, cache_dir=cache_dir)
    return from_rest(raw, source=f"alyx:{base_url}")


def from_rest(raw: dict[str, list[dict]], source: str = "alyx") -> R.Snapshot:
    """Records from REST list responses keyed by endpoint."""
    snap = R.Snapshot(source=source, provides=frozenset(R.KINDS))
    out = {kind: [] for kind in R.KINDS}
    nick_to_uuid = {(s.get("lab"), s.get("nickname")): s.get("id") for s in raw.get("subjects", [])}

    def add(kind, item, build):
        try:
            out[kind].append(build(item))
        except (KeyError, ValueError, TypeError) as err:
            snap.add_bad(kind, item.get("id") or item.get("url") or item.get("name"), f"unreadable: {err}")

    def subject_id(f):
        uid = nick_to_uuid.get((f.get("lab"), f["subject"])) if "lab" in f else None
        if uid is None:  # endpoints without a lab field: nickname alone (unique in the demo)
            matches = [v for (_, nick), v in nick_to_uuid.items() if nick == f["subject"]]
            if len(matches) != 1:
                raise ValueError(f"subject {f['subject']!r} unknown or ambiguous")
            uid = matches[0]
        return R.parse_uuid(uid)

    def uid(f):
        return f.get("id") or _id_from_url(f["url"])

    builders = {  # endpoint -> (kind, record from its fields); references arrive as names
        "labs": ("lab", lambda f: A.lab(f.get("id"), f)),
        "users": ("user", lambda f: A.lab_member(f.get("id"), f, labs=f.get("lab") or ())),
        "projects": ("project", lambda f: A.project(f.get("id"), f)),
        "subjects": (
            "subject",
            lambda f: A.subject(
                f["id"],
                f,
                lab_name=f["lab"],
                strain=f.get("strain") or None,
                line=f.get("line") or None,
                responsible_user=f.get("responsible_user"),
            ),
        ),
        "sessions": (
            "session",
            lambda f: A.session(
                f["id"],
                f,
                subject_uuid=subject_id(f),
                lab_name=f["lab"],
                users=f.get("users") or (),
                procedures=f.get("procedures") or (),
                projects=f.get("projects") or (),
            ),
        ),
        "weighings": ("weighing", lambda f: A.weighing(uid(f), f, subject_uuid=subject_id(f))),
        "water-administrations": (
            "water_administration",
            lambda f: A.water_administration(uid(f), f, subject_uuid=subject_id(f), water_type=f.get("water_type")),
        ),
        "water-restrictions": (
            "water_restriction",
            lambda f: A.water_restriction(uid(f), f, subject_uuid=subject_id(f)),
        ),
        "insertions": ("insertion", lambda f: A.insertion(f["id"], f, probe_model=f.get("model"))),
        "trajectories": ("trajectory", lambda f: A.trajectory(f["id"], f["probe_insertion"], f)),
    }
    for endpoint, (kind, build) in builders.items():
        for it in raw.get(endpoint, []):
            add(kind, it, build)
    snap.records = out
    return R.finalize(snap)


def _id_from_url(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]
