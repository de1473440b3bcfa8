"""Small Alyx dumps made by code, a dump-to-REST converter, and a local Alyx REST server for the tests.

The server answers the list endpoints the way Alyx does (``?limit=&offset=`` pages with
``count/next/previous/results``, ``POST /auth-token``, ``Authorization: Token ...``), so the
real ``one.webclient.AlyxClient`` can talk to it.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import urllib.parse
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from iblpipe.sources import ids


def small_dump(n_labs: int = 2, n_mice: int = 3, n_sessions: int = 4) -> list[dict]:
    """A Django dumpdata list with every model the mirror reads; uuids from iblpipe.sources.ids."""
    items = []

    def add(model_name, pk, **fields):
        items.append({"model": model_name, "pk": str(pk), "fields": fields})

    add("subjects.project", ids.name_uuid("project", "ibl"), name="ibl_neuropixel_brainwide_01", description="BWM")
    for li in range(n_labs):
        lab = f"lab{li}"
        lab_pk = ids.lab_uuid(lab)
        add("misc.lab", lab_pk, name=lab, institution=f"Institute {li}", address="", timezone="Europe/London")
        user_pk = ids.name_uuid("user", lab)
        add("misc.labmember", user_pk, username=f"user_{lab}", email=f"u@{lab}.org", first_name="A", last_name="B")
        add("misc.labmembership", ids.name_uuid("membership", lab), user=str(user_pk), lab=str(lab_pk))
        for mi in range(n_mice):
            nick = f"{lab.upper()}_{mi:03d}"
            subj = ids.subject_uuid(lab, nick)
            add(
                "subjects.subject",
                subj,
                nickname=nick,
                sex="MF"[mi % 2],
                birth_date=(dt.date(2024, 1, 1) + dt.timedelta(days=mi)).isoformat(),
                lab=str(lab_pk),
                responsible_user=str(user_pk),
                strain="C57BL/6J",
                line=None,
                death_date=None,
            )
            add(
                "actions.waterrestriction",
                ids.name_uuid("wr", lab, nick),
                subject=str(subj),
                start_time="2024-03-01T09:00:00",
                end_time=None,
                reference_weight=22.5,
            )
            for si in range(n_sessions):
                day = dt.date(2024, 3, 4) + dt.timedelta(days=si)
                eid = ids.session_uuid(lab, nick, day.isoformat(), 1)
                protocol = "_iblrig_tasks_trainingChoiceWorld6.4.0"
                add(
                    "actions.session",
                    eid,
                    subject=str(subj),
                    lab=str(lab_pk),
                    start_time=f"{day}T10:{mi % 60:02d}:00",
                    end_time=f"{day}T11:{mi % 60:02d}:00",
                    number=1,
                    task_protocol=protocol,
                    users=[str(user_pk)],
                    procedures=["Behavior training/tasks"],
                    projects=[str(ids.name_uuid("project", "ibl"))],
                    qc=0,
                )
                add(
                    "actions.weighing",
                    ids.name_uuid("weighing", eid),
                    subject=str(subj),
                    date_time=f"{day}T09:30:00",
                    weight=21.0 + 0.1 * si,
                    user=str(user_pk),
                )
                add(
                    "actions.wateradministration",
                    ids.name_uuid("water", eid),
                    subject=str(subj),
                    date_time=f"{day}T11:30:00",
                    water_administered=0.8,
                    water_type="Water 10% Sucrose",
                    adlib=False,
                    session=str(eid),
                )
                if mi == 0 and si == n_sessions - 1:
                    pid = ids.name_uuid("insertion", eid, "probe00")
                    add("experiments.probeinsertion", pid, session=str(eid), name="probe00", model="3B2")
                    for prov in (10, 70):
                        add(
                            "experiments.trajectoryestimate",
                            ids.name_uuid("trajectory", pid, prov),
                            probe_insertion=str(pid),
                            x=-2000.0,
                            y=-1500.0,
                            z=0.0,
                            depth=4000.0,
                            theta=15.0,
                            phi=180.0,
                            roll=0.0,
                            provenance=prov,
                        )
    return items


PROVENANCE = {10: "Planned", 30: "Micro-manipulator", 50: "Histology track", 70: "Ephys aligned histology track"}
QC = {0: "NOT_SET", 10: "PASS", 30: "WARNING", 40: "FAIL", 50: "CRITICAL"}


def dump_to_rest(items: list[dict]) -> dict[str, list[dict]]:
    """What Alyx's list endpoints return for the rows of a dump (related rows by name, not pk)."""
    models = defaultdict(dict)
    for it in items:
        models[it["model"]][it["pk"]] = it["fields"]
    lab = {pk: f["name"] for pk, f in models["misc.lab"].items()}
    user = {pk: f["username"] for pk, f in models["misc.labmember"].items()}
    project = {pk: f["name"] for pk, f in models["subjects.project"].items()}
    water_type = {pk: f["name"] for pk, f in models["actions.watertype"].items()}
    subj = models["subjects.subject"]
    labs_of = defaultdict(list)
    for f in models["misc.labmembership"].values():
        labs_of[f["user"]].append(lab.get(f["lab"], f["lab"]))

    def nick(pk):
        return subj[pk]["nickname"]

    rest = {
        "labs": [
            {"id": pk, "name": f["name"], **_pick(f, "institution", "address", "timezone")}
            for pk, f in models["misc.lab"].items()
        ],
        "users": [
            {
                "id": pk,
                "username": f["username"],
                "lab": sorted(set(labs_of[pk]) | {lab.get(x, x) for x in _listed(f.get("lab"))}),
                **_pick(f, "email", "first_name", "last_name"),
            }
            for pk, f in models["misc.labmember"].items()
        ],
        "projects": [
            {"id": pk, "name": f["name"], "description": f.get("description", "")}
            for pk, f in models["subjects.project"].items()
        ],
        "subjects": [
            {
                "id": pk,
                "nickname": f["nickname"],
                "lab": lab.get(f["lab"], f["lab"]),
                "responsible_user": user.get(f["responsible_user"], f["responsible_user"]),
                **_pick(f, "sex", "birth_date", "death_date", "strain", "line"),
            }
            for pk, f in subj.items()
        ],
        "sessions": [
            {
                "id": pk,
                "subject": nick(f["subject"]),
                "lab": lab.get(f["lab"], f["lab"]),
                "start_time": f["start_time"],
                "end_time": f.get("end_time"),
                "number": f["number"],
                "task_protocol": f.get("task_protocol"),
                "users": [user.get(u, u) for u in f.get("users", [])],
                "procedures": list(f.get("procedures", [])),
                "projects": [project.get(p, p) for p in f.get("projects", [])],
                "qc": QC.get(f.get("qc", 0), f.get("qc")),
            }
            for pk, f in models["actions.session"].items()
        ],
        "weighings": [
            {
                "url": f"http://alyx/weighings/{pk}",
                "subject": nick(f["subject"]),
                "date_time": f["date_time"],
                "weight": f["weight"],
            }
            for pk, f in models["actions.weighing"].items()
        ],
        "water-administrations": [
            {
                "id": pk,
                "subject": nick(f["subject"]),
                "water_type": water_type.get(f.get("water_type"), f.get("water_type")),
                **_pick(f, "date_time", "water_administered", "adlib", "session"),
            }
            for pk, f in models["actions.wateradministration"].items()
        ],
        "water-restrictions": [
            {"id": pk, "subject": nick(f["subject"]), **_pick(f, "start_time", "end_time", "reference_weight")}
            for pk, f in models["actions.waterrestriction"].items()
        ],
        "insertions": [
            {"id": pk, "name": f["name"], "model": f.get("model"), "session": f["session"]}
            for pk, f in models["experiments.probeinsertion"].items()
        ],
        "trajectories": [
            {
                "id": pk,
                "probe_insertion": f["probe_insertion"],
                "provenance": PROVENANCE.get(f["provenance"], f["provenance"]),
                **_pick(f, "x", "y", "z", "depth", "theta", "phi", "roll"),
            }
            for pk, f in models["experiments.trajectoryestimate"].items()
        ],
    }
    return rest


def _listed(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _pick(fields: dict, *names: str) -> dict:
    return {n: fields.get(n) for n in names}


class AlyxServer:
    """A local Alyx REST stand-in on 127.0.0.1: token auth and paginated list endpoints."""

    def __init__(self, rest: dict[str, list[dict]], username: str = "tester", password: str = "secret"):
        self.rest, self.username, self.password = rest, username, password
        self.token = secrets.token_hex(20)
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, payload):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                creds = dict(urllib.parse.parse_qsl(raw)) if "=" in raw else json.loads(raw or "{}")
                if urllib.parse.urlsplit(self.path).path.rstrip("/") != "/auth-token":
                    return self._send(404, {"detail": "Not found."})
                if creds.get("username") == server.username and creds.get("password") == server.password:
                    return self._send(200, {"token": server.token})
                return self._send(400, {"non_field_errors": ["Unable to log in with provided credentials."]})

            def do_GET(self):
                server.requests.append(self.path)
                if self.headers.get("Authorization") != f"Token {server.token}":
                    return self._send(403, {"detail": "Invalid token."})
                parts = urllib.parse.urlsplit(self.path)
                endpoint = parts.path.strip("/")
                if endpoint not in server.rest:
                    return self._send(404, {"detail": "Not found."})
                query = dict(urllib.parse.parse_qsl(parts.query))
                limit, offset = int(query.get("limit", 100)), int(query.get("offset", 0))
                rows = server.rest[endpoint]
                base = f"http://{self.headers['Host']}/{endpoint}"
                nxt = f"{base}?limit={limit}&offset={offset + limit}" if offset + limit < len(rows) else None
                prev = f"{base}?limit={limit}&offset={max(offset - limit, 0)}" if offset else None
                return self._send(
                    200, {"count": len(rows), "next": nxt, "previous": prev, "results": rows[offset : offset + limit]}
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
