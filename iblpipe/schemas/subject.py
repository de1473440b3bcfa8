"""Subjects and their husbandry: weighings, water administrations and restrictions."""

import datajoint as dj

from iblpipe.schemas import columnar, reference  # noqa: F401  (named in table definitions)

schema = dj.Schema()


@schema
class Subject(columnar.Manual):
    """One mouse (Alyx subjects.subject)."""

    definition = """
    # a subject
    subject_uuid : uuid                   # Alyx primary key
    ---
    subject_nickname : varchar(64)        # name used in the ALF tree, unique within a lab
    sex = 'U' : enum('M', 'F', 'U')       # sex
    subject_birth_date = null : date      # date of birth
    subject_strain = null : varchar(64)   # strain, e.g. C57BL/6J
    subject_line = null : varchar(255)    # genetic line
    death_date = null : date              # date of death
    index (subject_nickname)
    """


@schema
class SubjectLab(columnar.Manual):
    """The lab a subject belongs to."""

    definition = """
    # lab of a subject
    -> Subject
    ---
    -> reference.Lab
    """


@schema
class SubjectUser(columnar.Manual):
    """The lab member responsible for a subject."""

    definition = """
    # responsible user of a subject
    -> Subject
    ---
    -> reference.LabMember.proj(responsible_user="user_name")
    """


@schema
class WaterType(columnar.Lookup):
    """One kind of water given to mice (Alyx actions.watertype)."""

    definition = """
    # water type
    water_type : varchar(255)   # e.g. Water, Water 10 percent Sucrose
    """
    contents = [{"water_type": w} for w in ("Water", "Water 10% Sucrose", "Hydrogel")]


@schema
class Weighing(columnar.Manual):
    """One weighing of a subject (Alyx actions.weighing)."""

    definition = """
    # a weighing
    weighing_uuid : uuid            # Alyx primary key
    ---
    -> Subject
    weighing_time : datetime        # (local time) when the mouse was weighed
    weight : float32                # (g) body weight
    index (weighing_time)
    """


@schema
class WaterAdministration(columnar.Manual):
    """One administration of water (Alyx actions.wateradministration)."""

    definition = """
    # water given to a subject
    wateradmin_uuid : uuid              # Alyx primary key
    ---
    -> Subject
    administration_time : datetime      # (local time) when the water was given
    water_administered = null : float32 # (mL) volume given; null when ad libitum
    -> WaterType
    adlib = 0 : bool                    # ad libitum water (volume not measured)
    session_uuid = null : uuid          # session during which it was given (rewards), if any
    index (administration_time)
    """


@schema
class WaterRestriction(columnar.Manual):
    """One period of water restriction (Alyx actions.waterrestriction)."""

    definition = """
    # a water restriction period
    restriction_uuid : uuid              # Alyx primary key
    ---
    -> Subject
    restriction_start_time : datetime    # (local time) start
    restriction_end_time = null : datetime  # (local time) end; null while ongoing
    reference_weight = null : float32    # (g) weight at the start, basis of the 85 and 75 percent limits
    """
