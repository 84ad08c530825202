"""Where a backup store lies in a destination folder.

A store backup into ``E:\\Sicherung`` goes into ``E:\\Sicherung\\TheraPsy-Backups``; a
destination that is itself a store (its folder holds ``config``), or that is named
``TheraPsy-Backups``, is taken as the store. Import-light (the app asks this as the
user types a destination).
"""

from __future__ import annotations

from pathlib import Path

from therabak.datafolder.names import STORE_FOLDER, is_store_name

__all__ = ["CONFIG_NAME", "STORE_FOLDER", "is_store_name", "store_exists", "store_folder"]

CONFIG_NAME = "config"


def store_folder(dest: Path | str) -> Path:
    """The store's folder for the destination *dest*: *dest* itself when it holds a
    store's ``config`` or is named like a store folder (and holds no store below), else
    ``dest/TheraPsy-Backups``."""
    dest = Path(dest).expanduser()
    if (dest / CONFIG_NAME).is_file():
        return dest
    below = dest / STORE_FOLDER
    if is_store_name(dest.name) and not (below / CONFIG_NAME).is_file():
        return dest
    return below


def store_exists(dest: Path | str) -> bool:
    """Does the destination *dest* hold a store already (its config is there)?"""
    return (store_folder(dest) / CONFIG_NAME).is_file()
