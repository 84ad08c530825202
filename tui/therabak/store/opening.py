r"""Opening a backup store: its config and key files read, the store unlocked with the
first key slot that opens it, and what is wrong with the key files (damaged, foreign,
superseded) and the config (missing, damaged: put up with only for a salvage) as
:class:`~therabak.store.problems.Problem`\ s. :class:`~therabak.store.core.Store` is
built from what this returns. The bytes are in FORMAT.md beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass

from therabak.crypto.slots import SlotType
from therabak.errors import CannotUnlockError
from therabak.i18n import _
from therabak.storage.base import ObjectNotFoundError, Storage
from therabak.store import config as config_mod
from therabak.store.config import StoreConfig, parse_config
from therabak.store.errors import DamagedStoreError, NotAStoreError
from therabak.store.keyfile import KeyFile, Unlock, current_keyfiles, unlock_store
from therabak.store.keys import StoreKeys
from therabak.store.problems import Problem, Severity
from therabak.store.public import read_keyfiles, store_exists


@dataclass(frozen=True)
class Opened:
    """What opening found: enough to build a :class:`~therabak.store.core.Store`."""

    config: StoreConfig
    keys: StoreKeys
    keyfile: KeyFile  # the key file that opened the store
    keyfiles: list[KeyFile]  # every authentic key file
    unlocked_with: SlotType
    problems: list[Problem]  # found while opening (damaged or superseded key files ...)
    salvage: bool  # opened despite a damaged config: reading only


def open_keys(storage: Storage, unlock: Unlock, *, salvage: bool = False) -> Opened:
    """The config, keys and key files of the store in *storage*, unlocked with what
    *unlock* holds. With *salvage*, a damaged or missing config is put up with (the
    store can then only be read: ``Opened.salvage``)."""
    problems: list[Problem] = []
    cfg = _read_config(storage, salvage, problems)
    keyfiles, key_problems = read_keyfiles(storage)
    problems += key_problems
    keys, keyfile, used, config_ok = _unlock(keyfiles, key_problems, unlock, cfg, salvage)
    if cfg is None or not config_ok:
        if cfg is not None:
            problems.append(
                Problem(
                    Severity.ERROR,
                    config_mod.NAME,
                    _("The config does not belong to this store's key (damaged or replaced)."),
                )
            )
        # defaults: reading needs none; the content id is not known (either is accepted)
        cfg = StoreConfig(keys.store_id, keyfile.created, content_id=None)
        salvage = True
    authentic = _authentic(keyfiles, keys, problems)
    return Opened(cfg, keys, keyfile, authentic, used, problems, salvage)


def _read_config(storage: Storage, salvage: bool, problems: list[Problem]) -> StoreConfig | None:
    """The store's config; None when it is missing or damaged and *salvage* puts up with
    that (said in *problems*). NotAStoreError when there is no store at all."""
    cfg: StoreConfig | None = None
    try:
        cfg = parse_config(storage.get(config_mod.NAME))
    except ObjectNotFoundError:
        if not store_exists(storage):
            raise NotAStoreError(
                _("There is no backup store in {place}.").format(place=storage.location)
            ) from None
        if not salvage:
            raise DamagedStoreError(
                _("The store's config is missing: {place} is damaged.").format(
                    place=storage.location
                ),
                name=config_mod.NAME,
            ) from None
        problems.append(Problem(Severity.ERROR, config_mod.NAME, _("The config is missing.")))
    except DamagedStoreError as e:
        if not salvage:
            raise
        problems.append(Problem(Severity.ERROR, config_mod.NAME, e.message))
    return cfg


def _unlock(
    keyfiles: list[KeyFile],
    key_problems: list[Problem],
    unlock: Unlock,
    cfg: StoreConfig | None,
    salvage: bool,
) -> tuple[StoreKeys, KeyFile, SlotType, bool]:
    """The keys, the key file and slot type that opened the store, and whether the
    config confirms the keys (in a salvage, a key its key file confirms is taken when
    the config's MAC fails for every key). A damaged key file that may have held the
    slot that opens the store is named instead of "wrong password"."""
    config_ok = True

    def confirm(keys: StoreKeys) -> bool:
        try:
            cfg.verify(keys)
        except DamagedStoreError:
            return False
        return True

    try:
        if cfg is None:
            keys, keyfile, used = unlock_store(keyfiles, unlock, None)
        else:
            keys, keyfile, used = unlock_store(keyfiles, unlock, confirm, cfg.store_id)
    except DamagedStoreError:
        if cfg is None or not salvage:
            raise
        # salvage: the config's MAC fails for every key; take a key its key file confirms
        config_ok = False
        keys, keyfile, used = unlock_store(keyfiles, unlock, None)
    except CannotUnlockError as e:
        damaged = [kf.name for kf in keyfiles if kf.damaged] + [p.name for p in key_problems]
        if not damaged:
            raise
        raise DamagedStoreError(
            _(
                "The store's key file {name} is damaged, and no intact key slot opens the "
                "store ({message})"
            ).format(name=damaged[0], message=e.message),
            name=damaged[0],
        ) from None
    return keys, keyfile, used, config_ok


def _authentic(keyfiles: list[KeyFile], keys: StoreKeys, problems: list[Problem]) -> list[KeyFile]:
    """The key files that belong to this store; foreign or damaged ones and ones a newer
    one replaces (the old password still opens the store) are said in *problems*."""
    authentic = []
    for kf in keyfiles:
        if kf.verify(keys):
            authentic.append(kf)
        else:
            problems.append(
                Problem(
                    Severity.WARNING,
                    kf.name,
                    _("A key file that does not belong to this store (damaged or foreign)."),
                )
            )
    current, old = current_keyfiles(authentic)
    for kf in old:
        problems.append(
            Problem(
                Severity.WARNING,
                kf.name,
                _(
                    "A key file that a newer one replaces (an interrupted password change, "
                    "or an old key file put back): the old password still opens the store "
                    "until it is removed (by the next password change or prune)."
                ),
            )
        )
    return authentic


__all__ = ["Opened", "open_keys"]
