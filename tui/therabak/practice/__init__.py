"""The TheraPsy practice data folder: categories, scanning, at-rest envelope, account key, demo."""
