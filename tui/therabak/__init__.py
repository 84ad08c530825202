"""therabak: backup and restore for the TheraPsy practice data folder."""

__version__ = "0.1.0"
