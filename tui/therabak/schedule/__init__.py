"""Automatic backups through the platform's own scheduler: install, remove and report the
entry that starts ``therabak auto`` (a systemd user timer, a crontab line, a launchd
agent, a Windows Task Scheduler task).

``host`` (the computer), ``tools`` (the one seam that runs the scheduler's programs),
``command`` (what an entry runs, how often), ``templates`` (the entries' text;
FORMAT.md), one module per backend (``systemd``, ``cron``, ``launchd``,
``taskscheduler``, their shape in ``backend``), ``manage`` (install, remove) and
``status`` (set up? last run, next run). The CLI is ``cli/schedule.py``; the app uses
``manage`` and ``status`` from its home and settings screens.
"""
