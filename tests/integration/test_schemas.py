"""Schemas bind late, under any prefix, and rebind to another prefix in the same process."""

from iblpipe import schemas
from iblpipe.schemas import acquisition, ephys, reference, subject


def test_activate_binds_every_module_under_prefix(prefix):
    names = schemas.activate(prefix)
    assert names["acquisition"] == f"{prefix}acquisition"
    assert acquisition.Session.full_table_name == f"`{prefix}acquisition`.`session`"
    assert ephys.ProbeInsertion.full_table_name.startswith(f"`{prefix}ephys`")
    assert sorted(subject.WaterType().to_arrays("water_type")) == ["Hydrogel", "Water", "Water 10% Sucrose"]


def test_rebind_to_second_prefix_and_drop(prefix):
    other = prefix + "x_"
    try:
        schemas.activate(other)
        reference.Lab.insert1({"lab_name": "testlab"})
        assert len(reference.Lab()) == 1
        schemas.activate(prefix)
        assert len(reference.Lab()) == 0
    finally:
        dropped = schemas.drop(other)
        schemas.activate(prefix)
    assert f"{other}reference" in dropped and len(dropped) == len(schemas.MODULE_NAMES)
