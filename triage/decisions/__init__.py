"""Router input and output as tables: rows of episodes -> router calls (``episodes``), decisions ->
rows (``rows``), one batch routed (``batch``), row-level rejects (``errors``).

Shared by the MLflow pyfunc and its registered signature, ``triage batch`` (pandas and Spark) and
the service's field check, so a decision is read and written the same way everywhere. Below
``tracking`` and ``batch``: both import it, it imports neither.
"""
