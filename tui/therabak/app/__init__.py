"""The Textual app (``therabak-tui``): the only package of therabak that imports textual.

For now a minimal screen (data folder, account key, category preview, total size);
the full keyboard-first UI (app.py, screens/, widgets/, app.tcss) replaces it later.
"""
