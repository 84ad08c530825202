"""The app's screens: home, backup, progress, restore, folder backup, verify, settings,
help, and the problem screen for a missing data folder or key."""
