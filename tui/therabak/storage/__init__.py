"""Where a backup store's files live: one small interface, one implementation per place.

``base.Storage`` is the interface (put an immutable file, read a range, list, delete,
replace a small mutable file); ``local.LocalStorage`` keeps the files in a folder (a USB
stick, a second disk). Remote implementations (S3-compatible, SFTP, WebDAV) plug in beside
it. Nothing here knows what the files mean: the store above decides their names and bytes.
"""
