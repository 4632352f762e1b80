"""The front doors.

The front doors: the command line (:mod:`.cli`: parse, call, format), the HTML report
(:mod:`.report`), plots (:mod:`.plots`) and many accounts on Dask (:mod:`.batch`). Nothing here
computes a margin itself: it calls the layers below.
"""
