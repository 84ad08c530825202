"""The emergency sheet: where the backups are and how to restore them, on one A4 page."""
