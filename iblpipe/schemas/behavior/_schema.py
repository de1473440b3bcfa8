"""The behaviour schema object, shared by the modules of ``iblpipe.schemas.behavior`` (bound by ``schemas.activate``)."""

import datajoint as dj

schema = dj.Schema()
