"""The ephys schema object, shared by the modules of ``iblpipe.schemas.ephys`` (bound by ``schemas.activate``)."""

import datajoint as dj

schema = dj.Schema()
