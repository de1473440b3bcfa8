"""Bookkeeping of the Alyx mirror: the content hash of every mirrored record."""

import datajoint as dj

schema = dj.Schema()


@schema
class MirroredRecord(dj.Manual):
    """One record written by ``iblpipe ingest``, with the hash of its content when written."""

    definition = """
    # content hash per mirrored record: a changed hash means update and invalidate
    record_kind : varchar(32)       # lab, user, project, subject, session, weighing, ...
    record_key : varchar(64)        # primary key of the record in its table, as text
    ---
    content_hash : char(32)         # md5 of the record canonical JSON (iblpipe.sources.records.content_hash)
    source : varchar(16)            # dump, alyx or one-cache: which source wrote it last
    """


@schema
class IngestRun(dj.Manual):
    """One run of ``iblpipe ingest`` that changed the mirror."""

    definition = """
    # ingest runs and what they changed
    run_time : datetime(3)          # (UTC) when the run committed
    ---
    source : varchar(1024)          # source spec, e.g. dump:/data/alyx.json
    n_inserted : int32              # (count) records inserted
    n_updated : int32               # (count) records updated in place
    n_deleted : int32               # (count) records deleted, with their dependents
    n_invalidated : int32           # (count) computed rows deleted because their inputs changed
    n_bad : int32                   # (count) source records skipped as bad
    """


@schema
class MirrorFence(dj.Manual):
    """The one row an ingest locks exclusively and every make shares, so they never overlap (schemas.fence)."""

    definition = """
    # ingest fence: makes share-lock the row, an ingest bumps its count
    fence : int8                    # always 0: the one row
    ---
    ingests : int64                 # (count) ingest transactions that changed the mirror
    """
