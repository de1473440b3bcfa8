"""`iblpipe db migrate`: a database of the earlier layout (per-session ``behavior.Trials``) renamed in place, rows kept."""

from __future__ import annotations

import datetime as dt
import os

import datajoint as dj
import pytest

from iblpipe import schemas
from iblpipe.errors import ConfigError
from iblpipe.schemas import acquisition, behavior, reference, subject
from iblpipe.sources import ids

LAB, NICK = "miglab", "MIG001"
N_TRIALS = (40, 55)


def _old_layout(database: str, conn) -> dict:
    """Declare the earlier layout of the behaviour tables (issue 5) in ``database``, as its code did."""
    ctx = {"acquisition": acquisition}
    old = dj.Schema(database, context=ctx, connection=conn)

    class BehaviorParams(dj.Lookup):
        definition = behavior.BehaviorParams.definition
        contents = behavior.BehaviorParams.contents

    ctx["BehaviorParams"] = old(BehaviorParams)

    class Trials(dj.Imported):
        definition = behavior.TrialSet.definition

        class Trial(dj.Part):
            definition = behavior.TrialSet.Trial.definition

        class Digest(dj.Part):
            definition = behavior.TrialSet.Digest.definition

        def make(self, key):
            raise NotImplementedError

    ctx["Trials"] = old(Trials)

    class PsychometricFit(dj.Computed):
        definition = behavior.PsychometricFit.definition.replace("-> TrialSet", "-> Trials")

        def make(self, key):
            raise NotImplementedError

    ctx["PsychometricFit"] = old(PsychometricFit)
    return ctx


@pytest.fixture(scope="module")
def old_db(db_server):
    """Upstream schemas bound under a private prefix; the behaviour schema in the earlier layout, with rows."""
    prefix = f"t_migrate_{os.getpid()}_"
    schemas.drop(prefix)
    names = schemas.schema_names(prefix)
    from iblpipe.connection import connect

    conn = connect()
    for mod in (reference, subject, acquisition):
        target = names[mod.__name__.rsplit(".", 1)[1]]
        if mod.schema.database not in (None, target):
            mod.schema.database = None
        mod.schema.activate(target, connection=conn)
    old = _old_layout(names["behavior"], conn)
    reference.Lab.insert1({"lab_name": LAB})
    sub = ids.subject_uuid(LAB, NICK)
    subject.Subject.insert1({"subject_uuid": sub, "subject_nickname": NICK})
    sessions = []
    for day, n in enumerate(N_TRIALS):
        key = {"session_uuid": ids.session_uuid(LAB, NICK, f"2024-02-0{day + 1}", 1)}
        sessions.append(key)
        acquisition.Session.insert1(
            dict(key, subject_uuid=sub, session_lab=LAB, session_start_time=dt.datetime(2024, 2, day + 1, 10))
        )
        old["Trials"].insert1(
            dict(key, n_trials=n, n_correct=n // 2, n_no_go=1, trials_duration=n * 6.0), allow_direct_insert=True
        )
        old["Trials"].Trial.insert(
            [
                dict(
                    key,
                    trial_id=i,
                    trial_start_time=6.0 * i,
                    trial_end_time=6.0 * i + 5,
                    probability_left=0.5,
                    reward_volume=1.5 if i % 2 else 0.0,
                    choice=None if i == 3 else 1,
                    feedback_type=1,
                )
                for i in range(n)
            ],
            allow_direct_insert=True,
        )
        old["Trials"].Digest.insert1(
            dict(key, training_digest="a" * 32, n_easy=3, n_easy_correct=2), allow_direct_insert=True
        )
        old["PsychometricFit"].insert1(
            dict(
                key,
                params_name=behavior.DEFAULT_PARAMS_NAME,
                probability_left=0.5,
                bias=1.0,
                threshold=20.0,
                lapse_low=0.1,
                lapse_high=0.1,
                n_trials=n,
            ),
            allow_direct_insert=True,
        )
    yield {"prefix": prefix, "names": names, "sessions": sessions}
    schemas.drop(prefix)


def test_activate_refuses_the_earlier_layout_and_names_the_command(old_db):
    with pytest.raises(ConfigError, match="iblpipe db migrate"):
        schemas.activate(old_db["prefix"])


def test_migrate_renames_in_place_and_keeps_every_row(old_db, run_cli):
    prefix = old_db["prefix"]
    dry = run_cli("db", "migrate", "--dry-run", "--prefix", prefix)
    assert dry.returncode == 0, dry.stderr
    assert f"{prefix}behavior._trials__trial -> {prefix}behavior._trial_set__trial" in dry.stdout
    assert "3 table(s) to rename" in dry.stdout  # no jobs table: nothing was populated
    out = run_cli("db", "migrate", "--prefix", prefix)
    assert out.returncode == 0, out.stderr
    assert "migrated 3 table(s)" in out.stdout
    again = run_cli("db", "migrate", "--prefix", prefix)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout

    schemas.activate(prefix)
    first, second = old_db["sessions"]
    trials = (behavior.Trials & first).to_pandas()  # the call analysts type: one row per trial
    assert len(trials) == N_TRIALS[0] and trials.index.names == ["session_uuid", "trial_id"]
    assert trials["choice"].isna().sum() == 1
    assert len(behavior.Trials()) == sum(N_TRIALS)
    summary = behavior.TrialSet.to_pandas()
    assert sorted(summary["n_trials"]) == sorted(N_TRIALS)
    assert len(behavior.TrialSet.Digest()) == 2 and len(behavior.PsychometricFit()) == 2
    joined = (behavior.Trials * acquisition.Session * subject.Subject & {"subject_nickname": NICK}).to_pandas()
    assert len(joined) == sum(N_TRIALS)  # lineage of the renamed tables still joins
    conn = behavior.TrialSet.connection
    lineage = conn.query(f"SELECT table_name, lineage FROM `{prefix}behavior`.`~lineage`").fetchall()
    assert lineage and not [row for row in lineage if "_trials" in row[0] or "._trials" in row[1]]
    # The foreign key of the table below followed the rename: a cascade reaches it.
    (behavior.TrialSet & second).delete(prompt=False, part_integrity="cascade")
    assert len(behavior.PsychometricFit()) == 1 and len(behavior.Trials()) == N_TRIALS[0]
