"""Reference tables: labs, lab members, projects (and the brain-region ontology)."""

import datajoint as dj

from iblpipe.schemas import columnar
from iblpipe.schemas.frames import null_records

schema = dj.Schema()


@schema
class Lab(columnar.Manual):
    """One lab, as named in Alyx (misc.lab) or in the ALF folder tree."""

    definition = """
    # a lab taking part in the experiment
    lab_name : varchar(64)             # short name, e.g. cortexlab
    ---
    lab_uuid = null : uuid             # Alyx primary key; null when derived from a ONE cache
    institution = "" : varchar(255)    # full institution name
    address = "" : varchar(255)        # postal address
    time_zone = "" : varchar(64)       # IANA zone, e.g. Europe/London
    """


@schema
class LabMember(columnar.Manual):
    """One person who can run experiments (Alyx misc.labmember)."""

    definition = """
    # a lab member (Alyx user)
    user_name : varchar(255)           # Alyx username
    ---
    user_uuid = null : uuid            # Alyx primary key; null when derived from a ONE cache
    email = "" : varchar(255)          # contact address
    first_name = "" : varchar(255)     # given name
    last_name = "" : varchar(255)      # family name
    is_active = 1 : bool               # account active in Alyx
    """


@schema
class LabMembership(columnar.Manual):
    """One lab a member belongs to."""

    definition = """
    # membership of a user in a lab
    -> Lab
    -> LabMember
    """


@schema
class Project(columnar.Manual):
    """One project sessions can belong to (Alyx subjects.project)."""

    definition = """
    # a project
    project_name : varchar(255)        # project name, e.g. ibl_neuropixel_brainwide_01
    ---
    project_uuid = null : uuid         # Alyx primary key
    project_description = "" : varchar(1024)  # free text
    """


def make_case_sensitive(table, column: str) -> None:
    """Give ``column`` a binary collation, so ``CA1`` and ``Ca1`` compare different.

    DataJoint 2.3 cannot declare a collation and MariaDB's default utf8mb4
    collation (like MySQL 8's) ignores case: restricting by ``{"acronym": "cm"}``
    would also return ``CM``. Called right after the table is declared.
    """
    row = table.connection.query(
        "SELECT column_type, is_nullable, column_comment FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        args=(table.database, table.table_name, column),
    ).fetchone()
    column_type, is_nullable, comment = row
    null_sql = "NULL" if is_nullable == "YES" else "NOT NULL"
    table.connection.query(
        f"ALTER TABLE {table.full_table_name} MODIFY `{column}` {column_type} "
        f"CHARACTER SET utf8mb4 COLLATE utf8mb4_bin {null_sql} COMMENT %s",
        args=(comment,),
    )


class CaseSensitive:
    """Mixin: after declaring the table, give the columns in ``case_sensitive`` a binary collation."""

    case_sensitive: tuple[str, ...] = ()

    def declare(self, context=None):
        super().declare(context)
        for column in self.case_sensitive:
            make_case_sensitive(self, column)


@schema
class BrainRegion(CaseSensitive, columnar.Manual):
    """One region of the Allen CCF 2017 ontology as shipped by iblatlas (negative ids: left hemisphere)."""

    case_sensitive = ("acronym",)
    definition = """
    # Allen CCF 2017 brain region; load with BrainRegion.load()
    brain_region_id : int32             # Allen structure id; negative for the iblatlas left-hemisphere copy
    ---
    acronym : varchar(32)               # case-sensitive (binary collation), e.g. CA1; CM and cm are different regions
    brain_region_name : varchar(255)    # full name, e.g. Field CA1
    parent_id = null : int32            # Allen id of the parent; null for root and void
    level : int16                       # (count) depth in the tree, root = 0
    graph_order : int16                 # (index) position in the Allen graph (iblatlas order)
    hexcolor : char(7)                  # Allen display colour, e.g. #7ED04B
    index (acronym)
    """

    class Ancestor(columnar.Part):
        """One ancestor of a region (the region itself included, at distance 0): the closure table."""

        definition = """
        # ancestor closure: a roll-up to every ancestor is one join
        -> master
        -> BrainRegion.proj(ancestor_id="brain_region_id")
        ---
        distance : int16            # (levels) 0 = the region itself, 1 = parent, ...
        """

    @classmethod
    def ensure_loaded(cls) -> None:
        """Load the ontology if the table is empty (called by the ephys imports, so populate just works)."""
        if not len(cls()):
            cls.load()

    @classmethod
    def load(cls) -> int:
        """Insert the iblatlas ontology and its closure in bulk unless already complete; return rows added."""
        from iblpipe.sources.atlas import allen_ontology

        ontology = allen_ontology()
        if len(cls()) == len(ontology.regions) and len(cls.Ancestor()) == len(ontology.closure):
            return 0
        with cls().connection.transaction:
            cls.insert(null_records(ontology.regions), skip_duplicates=True)
            cls.Ancestor.insert(ontology.closure, skip_duplicates=True)
        return len(ontology.regions) + len(ontology.closure)
