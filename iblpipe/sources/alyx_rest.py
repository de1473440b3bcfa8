"""Read Alyx metadata over REST with ONE's ``AlyxClient`` (paginated lists, token auth).

REST lists name related rows (lab, subject nickname, users, water type) instead of
giving their pks; this module turns them into the same records as the dump.
"""

from __future__ import annotations

import logging
import os

from iblpipe.errors import SourceError
from iblpipe.sources import records as R
from iblpipe.sources.alyx_dump import _float, _qc, _required, trajectory

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

    for it in raw.get("labs", []):
        add(
            "lab",
            it,
            lambda f: R.Lab(
                lab_name=f["name"],
                lab_uuid=R.parse_uuid(f.get("id")),
                institution=f.get("institution") or "",
                address=f.get("address") or "",
                time_zone=f.get("timezone") or "",
            ),
        )
    for it in raw.get("users", []):
        add(
            "user",
            it,
            lambda f: R.LabMember(
                user_name=f["username"],
                user_uuid=R.parse_uuid(f.get("id")),
                email=f.get("email") or "",
                first_name=f.get("first_name") or "",
                last_name=f.get("last_name") or "",
                is_active=bool(f.get("is_active", True)),
                labs=tuple(sorted(f.get("lab") or ())),
            ),
        )
    for it in raw.get("projects", []):
        add(
            "project",
            it,
            lambda f: R.Project(
                project_name=f["name"],
                project_uuid=R.parse_uuid(f.get("id")),
                project_description=f.get("description") or "",
            ),
        )
    for it in raw.get("subjects", []):
        add(
            "subject",
            it,
            lambda f: R.Subject(
                subject_uuid=R.parse_uuid(f["id"]),
                subject_nickname=f["nickname"],
                lab_name=f["lab"],
                sex=f.get("sex") or "U",
                subject_birth_date=R.parse_date(f.get("birth_date")),
                subject_strain=f.get("strain") or None,
                subject_line=f.get("line") or None,
                death_date=R.parse_date(f.get("death_date")),
                responsible_user=f.get("responsible_user"),
            ),
        )

    def subject_id(f):
        uid = nick_to_uuid.get((f.get("lab"), f["subject"])) if "lab" in f else None
        if uid is None:  # endpoints without a lab field: nickname alone (unique in the demo)
            matches = [v for (_, nick), v in nick_to_uuid.items() if nick == f["subject"]]
            if len(matches) != 1:
                raise ValueError(f"subject {f['subject']!r} unknown or ambiguous")
            uid = matches[0]
        return R.parse_uuid(uid)

    for it in raw.get("sessions", []):
        add(
            "session",
            it,
            lambda f: R.Session(
                session_uuid=R.parse_uuid(f["id"]),
                subject_uuid=subject_id(f),
                session_lab=f["lab"],
                session_start_time=_required(R.parse_datetime(f["start_time"]), "start_time"),
                session_end_time=R.parse_datetime(f.get("end_time")),
                session_number=int(f.get("number") or 1),
                task_protocol=f.get("task_protocol") or None,
                session_qc=_qc(f.get("qc")),
                users=tuple(f.get("users") or ()),
                procedures=tuple(f.get("procedures") or ()),
                projects=tuple(f.get("projects") or ()),
            ),
        )
    for it in raw.get("weighings", []):
        add(
            "weighing",
            it,
            lambda f: R.Weighing(
                weighing_uuid=R.parse_uuid(f.get("id") or _id_from_url(f["url"])),
                subject_uuid=subject_id(f),
                weighing_time=_required(R.parse_datetime(f["date_time"]), "date_time"),
                weight=float(f["weight"]),
            ),
        )
    for it in raw.get("water-administrations", []):
        add(
            "water_administration",
            it,
            lambda f: R.WaterAdministration(
                wateradmin_uuid=R.parse_uuid(f.get("id") or _id_from_url(f["url"])),
                subject_uuid=subject_id(f),
                administration_time=_required(R.parse_datetime(f["date_time"]), "date_time"),
                water_administered=_float(f.get("water_administered")),
                water_type=f.get("water_type") or "Water",
                adlib=bool(f.get("adlib", False)),
                session_uuid=R.parse_uuid(f.get("session")),
            ),
        )
    for it in raw.get("water-restrictions", []):
        add(
            "water_restriction",
            it,
            lambda f: R.WaterRestriction(
                restriction_uuid=R.parse_uuid(f.get("id") or _id_from_url(f["url"])),
                subject_uuid=subject_id(f),
                restriction_start_time=_required(R.parse_datetime(f["start_time"]), "start_time"),
                restriction_end_time=R.parse_datetime(f.get("end_time")),
                reference_weight=_float(f.get("reference_weight")),
            ),
        )
    for it in raw.get("insertions", []):
        add(
            "insertion",
            it,
            lambda f: R.ProbeInsertion(
                probe_insertion_uuid=R.parse_uuid(f["id"]),
                session_uuid=R.parse_uuid(f["session"]),
                probe_name=f["name"],
                probe_model=f.get("model") or "",
            ),
        )
    for it in raw.get("trajectories", []):
        add("trajectory", it, lambda f: trajectory(f["id"], f["probe_insertion"], f))
    snap.records = out
    return R.finalize(snap)


def _id_from_url(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]
