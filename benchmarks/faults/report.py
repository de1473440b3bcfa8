"""The fault suite's table: one line per case, in the words of its figures."""

from __future__ import annotations


def _integrity(r: dict) -> str:
    jobs = r.get("jobs_left", {})
    parts = [
        f"tables equal {r['tables_equal']}/{r['tables']}",
        f"missing {r['missing_rows']}",
        f"extra {r['extra_rows']}",
    ]
    if "keys_made_twice" in r:
        parts.append(f"made twice {r['keys_made_twice']}")
    if jobs:
        parts.append(f"jobs error/reserved {jobs.get('error', 0)}/{jobs.get('reserved', 0)}")
    return ", ".join(parts)


def _exits(runs: list[dict]) -> str:
    return " ".join(str(r["exit"]) for r in runs)


def lines(result: dict) -> list[tuple[str, str]]:
    """(case, summary) pairs for every case that ran."""
    out = []
    k = result.get("kills", {})
    if "worker_kills" in k:
        r = k["worker_kills"]
        out.append((f"{r['kills']} worker SIGKILLs + clean run", f"exit {r['final_exit']}; {_integrity(r)}"))
    if "server_kills_populate" in k:
        r = k["server_kills_populate"]
        resumed = [s for s in r["resume_s"] if s is not None]
        when = f"resumed after {min(resumed)}-{max(resumed)} s" if resumed else "never resumed"
        out.append(
            (
                f"{r['kills']} server SIGKILLs mid-populate",
                f"worker exit {r['worker_exit']}, {r['restarts_logged']} restarts, {when}; {_integrity(r)}",
            )
        )
    if "server_kills_ingest" in k:
        r = k["server_kills_ingest"]
        out.append(
            (
                f"{r['kills']} server SIGKILLs mid-ingest",
                f"{r['killed_while_running']} hit a running ingest, {r['tracebacks']} tracebacks; "
                f"mirror equal after a re-run {r['mirror_equal_after_rerun']}/{r['kills']}",
            )
        )
    if "server_kills_startup" in k:
        for i, r in enumerate(k["server_kills_startup"]["rounds"]):
            out.append(
                (
                    f"server SIGKILL at worker startup #{i + 1}",
                    f"exit {r['exit']}, resumed after {r['resume_s']} s; {_integrity(r)}",
                )
            )
    c = result.get("concurrency", {})
    if "two_ingests" in c:
        r = c["two_ingests"]
        out.append(("two ingests at once", f"exits {_exits(r['runs'])}; {_integrity(r)}"))
    if "ingest_deleting_during_populate" in c:
        r = c["ingest_deleting_during_populate"]
        out.append(
            (
                f"ingest deleting {r['deleted_sessions']} sessions during populate",
                f"ingest exit {r['ingest']['exit']}, workers {r['workers']['exit']}, clean run {r['final_exit']}; "
                f"{_integrity(r)}" + (f"; ingest said: {r['ingest']['message']}" if r["ingest"]["exit"] else ""),
            )
        )
    if "four_workers" in c:
        r = c["four_workers"]
        out.append(("4 workers", f"exit {r['exit']}, {r['workers_that_made_keys']} made keys; {_integrity(r)}"))
    if "two_nightlies_two_hosts" in c:
        r = c["two_nightlies_two_hosts"]
        said = "; ".join(x["message"] for x in r["runs"] if x["exit"])
        out.append(
            ("two nightlies, two hosts", f"exits {_exits(r['runs'])}; {_integrity(r)}" + (f"; {said}" if said else ""))
        )
    for group in ("command_line", "broken_files", "bad_records"):
        for r in result.get("bad_inputs", {}).get(group, []):
            extra = ""
            if "rows_deleted" in r:
                extra = f"; mirror rows deleted {r['rows_deleted']}"
            if "other_sessions_complete" in r:
                extra = (
                    f"; {r['other_sessions_complete']}; names the session {r['names_session']}, "
                    f"the attribute {r['names_attribute']}"
                )
            tb = ", TRACEBACK" if r["traceback"] else ""
            out.append((r["case"], f"exit {r['exit']}{tb}: {r['message'][:110]}{extra}"))
    return out


def format_table(result: dict) -> str:
    rows = lines(result)
    width = max((len(case) for case, _ in rows), default=10)
    ref = result["reference"]
    head = [f"fault suite: reference {ref['tables']} tables, {ref['rows']} rows (exit {ref['exit']})", ""]
    return "\n".join(head + [f"{case:<{width}}  {summary}" for case, summary in rows])
