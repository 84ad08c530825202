"""What every job is made with, whatever it does: ``cancel.py`` (the cancel token a job
checks), ``progress.py`` (progress events, throttled, with rate and time left),
``retry.py`` (the decrypt-retry policy) and ``history.py`` (the record of finished
backups and restores that ``status`` and the app's home screen read)."""
