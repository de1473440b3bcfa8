"""Reference tables: labs, lab members, projects (and the brain-region ontology)."""

import datajoint as dj

schema = dj.Schema()


@schema
class Lab(dj.Manual):
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
class LabMember(dj.Manual):
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
class LabMembership(dj.Manual):
    """One lab a member belongs to."""

    definition = """
    # membership of a user in a lab
    -> Lab
    -> LabMember
    """


@schema
class Project(dj.Manual):
    """One project sessions can belong to (Alyx subjects.project)."""

    definition = """
    # a project
    project_name : varchar(255)        # project name, e.g. ibl_neuropixel_brainwide_01
    ---
    project_uuid = null : uuid         # Alyx primary key
    project_description = "" : varchar(1024)  # free text
    """
