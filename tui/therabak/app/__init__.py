"""therabak-tui: the Textual app, a face on the engine (the only package that imports textual).

Modules without Textual (``context``, ``jobview``, ``launch``) hold what the screens need
to know about the practice and the jobs, so they can be tested and imported cheaply.
"""
