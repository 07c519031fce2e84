"""The studio: mark, check and correct tracked objects in the browser (``gazevos studio``).

:mod:`.project` keeps a session's state in a folder (SQLite + palette PNGs),
:mod:`.service` is what the page can do (plain functions, also used by the CLI),
:mod:`.export` writes the ``annotate`` folder, :mod:`.app` is the HTTP layer and
:mod:`.security` its guard.  Nothing is imported here: ``gazevos studio`` loads the server
only when it runs.
"""
