"""Sessions: one row per behavioural or recording session."""

import datajoint as dj

from iblpipe.schemas import columnar, reference, subject  # noqa: F401  (named in table definitions)

schema = dj.Schema()


@schema
class Session(columnar.Manual):
    """One experimental session (Alyx actions.session; ONE eid)."""

    definition = """
    # a session
    session_uuid : uuid                     # Alyx primary key == ONE eid
    ---
    -> subject.Subject
    -> reference.Lab.proj(session_lab="lab_name")
    session_start_time : datetime           # (local time) start
    session_end_time = null : datetime      # (local time) end
    session_number = 1 : int16              # (count) N of the ALF folder <date>/<00N>
    task_protocol = null : varchar(255)     # e.g. _iblrig_tasks_trainingChoiceWorld6.4.0
    session_qc = "NOT_SET" : varchar(32)    # Alyx qc: NOT_SET, PASS, WARNING, FAIL, CRITICAL
    index (session_start_time)
    """

    class User(columnar.Part):
        """One user who ran the session."""

        definition = """
        # users of a session
        -> master
        -> reference.LabMember
        """

    class Procedure(columnar.Part):
        """One procedure performed in the session."""

        definition = """
        # procedures of a session
        -> master
        procedure : varchar(255)    # e.g. Behavior training/tasks
        """

    class Project(columnar.Part):
        """One project the session belongs to."""

        definition = """
        # projects of a session
        -> master
        -> reference.Project
        """
