"""The live view of a run: the widget tree (``tree``), its parts, the streaming text widget,
the pacing of its updates, and the inline display that becomes a saved snapshot at the end.

Nothing is imported here: ipywidgets and anywidget load when a module of this package is.
"""
