"""The category tree of the data folder and its default include rules, loaded from TOML.

The shipped ``rules.toml`` is the single source of the documented rules; nothing in
the code branches on a category id. A user rules file overrides nodes by id.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from therabak.errors import ConfigError, UsageError
from therabak.i18n import _


class BackupKind(StrEnum):
    """The kind of a backup, as its archive header (and the history) write it: the
    value of an automatic backup is "auto" there. A restore point of that kind is
    ``PointKind.AUTOMATIC`` ("automatic" in ``list --json``); ``PointKind.of_archive``
    is the one place that turns one into the other."""

    MANUAL = "manual"
    AUTOMATIC = "auto"


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    parent: str | None = None
    paths: tuple[str, ...] = ()
    manual: bool | None = None
    auto: bool | None = None
    reason: str = ""
    catch_all: bool = False
    children: tuple[str, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def default_for(self, kind: BackupKind) -> bool:
        return bool(self.manual if kind is BackupKind.MANUAL else self.auto)


_NODE_KEYS = {"id", "label", "parent", "paths", "manual", "auto", "reason", "catch_all"}


def _split(path: str) -> tuple[str, ...]:
    return tuple(p.casefold() for p in path.replace("\\", "/").split("/") if p)


@dataclass
class Rules:
    """The category tree (ordered as in the file) and the path rules."""

    nodes: dict[str, Category]
    ignore: tuple[str, ...] = ()
    source: str = "rules.toml"
    _prefixes: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _ancestors: frozenset[tuple[str, ...]] = field(default=frozenset(), repr=False)
    _ignore: frozenset[tuple[str, ...]] = field(default=frozenset(), repr=False)
    catch_all: str = ""

    # ---- loading -------------------------------------------------------------

    @classmethod
    def load(cls, user_file: Path | None = None) -> Rules:
        text = _builtin_rules_text()
        data = _parse_toml(text, "the built-in rules.toml")
        if user_file is not None:
            try:
                user_text = Path(user_file).read_text("utf-8")
            except OSError as e:
                raise ConfigError(
                    _("Rules file {user_file} cannot be read: {error}").format(
                        user_file=user_file, error=e.strerror or e
                    )
                ) from None
            except UnicodeDecodeError:
                raise ConfigError(
                    _("Rules file {user_file} is not UTF-8 text.").format(user_file=user_file)
                ) from None
            data = _merge(data, _parse_toml(user_text, str(user_file)), str(user_file))
            return cls.from_data(data, str(user_file))
        return cls.from_data(data, "built-in rules.toml")

    @classmethod
    def from_data(cls, data: dict, source: str) -> Rules:
        raw_nodes = data.get("node", [])
        if not isinstance(raw_nodes, list) or not raw_nodes:
            raise ConfigError(_("{source}: no [[node]] entries").format(source=source))
        nodes: dict[str, Category] = {}
        for raw in raw_nodes:
            node = _parse_node(raw, source, nodes)
            nodes[node.id] = node
        _link_children(nodes, source)
        _check_no_loops(nodes, source)
        leaves = [n for n in nodes.values() if n.is_leaf]
        catch_all = _check_shape(nodes, leaves, source)
        prefixes = _leaf_prefixes(leaves, source)
        ignore = data.get("ignore", [])
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise ConfigError(_("{source}: ignore must be a list of strings").format(source=source))
        rules = cls(nodes=nodes, ignore=tuple(ignore), source=source, catch_all=catch_all)
        rules._prefixes = prefixes
        ignored = frozenset(_split(p) for p in ignore)
        rules._ignore = ignored
        # Folders that contain a rule's folder or an ignored file: below them the
        # category is decided per file; everywhere else one lookup per folder suffices.
        rules._ancestors = frozenset(p[:i] for p in (*prefixes, *ignored) for i in range(len(p)))
        return rules

    # ---- the tree ------------------------------------------------------------

    def roots(self) -> list[Category]:
        return [n for n in self.nodes.values() if n.parent is None]

    def leaves(self) -> list[Category]:
        return [n for n in self.nodes.values() if n.is_leaf]

    def leaves_under(self, node_id: str) -> list[str]:
        node = self.nodes[node_id]
        if node.is_leaf:
            return [node_id]
        out: list[str] = []
        for child in node.children:
            out.extend(self.leaves_under(child))
        return out

    def walk(self) -> Iterable[tuple[int, Category]]:
        """Depth-first (depth, node) in file order."""

        def visit(node: Category, depth: int) -> Iterable[tuple[int, Category]]:
            yield depth, node
            for child in node.children:
                yield from visit(self.nodes[child], depth + 1)

        for root in self.roots():
            yield from visit(root, 0)

    def path_label(self, node_id: str, translate: Callable[[str], str] = str) -> str:
        """'Practice records › Sessions' (each label through *translate*, e.g. ``_``)."""
        parts = []
        cur: str | None = node_id
        while cur is not None:
            parts.append(translate(self.nodes[cur].label))
            cur = self.nodes[cur].parent
        return " › ".join(reversed(parts))

    # ---- classification --------------------------------------------------------

    def is_ignored(self, rel_parts: tuple[str, ...]) -> bool:
        return tuple(p.casefold() for p in rel_parts) in self._ignore

    def category_of(self, rel_path: str) -> str:
        """The leaf id of a file path relative to Data ("a/b/c.json")."""
        parts = _split(rel_path)
        for k in range(len(parts) - 1, 0, -1):
            hit = self._prefixes.get(parts[:k])
            if hit is not None:
                return hit
        return self.catch_all

    def subtree_category(self, dir_parts: tuple[str, ...]) -> str | None:
        """The one leaf every file below this folder belongs to, or None when it varies."""
        folded = tuple(p.casefold() for p in dir_parts)
        if folded in self._ancestors:
            return None
        for k in range(len(folded), 0, -1):
            hit = self._prefixes.get(folded[:k])
            if hit is not None:
                return hit
        return self.catch_all

    # ---- selection ---------------------------------------------------------------

    def parse_ids(self, spec: Iterable[str] | str | None) -> list[str]:
        if spec is None:
            return []
        items = [spec] if isinstance(spec, str) else list(spec)
        ids = [s.strip() for item in items for s in item.split(",") if s.strip()]
        unknown = [i for i in ids if i not in self.nodes]
        if unknown:
            raise UsageError(
                _("Unknown category id(s): {unknown}. Known ids: {known}").format(
                    unknown=", ".join(unknown), known=", ".join(self.nodes)
                )
            )
        return ids

    def default_selection(self, kind: BackupKind) -> frozenset[str]:
        return frozenset(n.id for n in self.leaves() if n.default_for(kind))

    def selection(
        self,
        kind: BackupKind = BackupKind.MANUAL,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
    ) -> frozenset[str]:
        """Leaf ids to back up: the defaults of *kind*, plus *include*, minus *exclude*."""
        chosen = set(self.default_selection(kind))
        for node_id in self.parse_ids(include):
            chosen.update(self.leaves_under(node_id))
        for node_id in self.parse_ids(exclude):
            chosen.difference_update(self.leaves_under(node_id))
        return frozenset(chosen)


def _builtin_rules_text() -> str:
    """The shipped rules.toml (read directly: importlib.resources costs ~10 ms to import)."""
    try:
        return Path(__file__).with_name("rules.toml").read_text("utf-8")
    except FileNotFoundError:  # not a plain folder install (e.g. a zip): ask the loader
        from importlib import resources

        return resources.files("therabak.practice").joinpath("rules.toml").read_text("utf-8")


def _parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            _("Rules file {source} is not valid TOML: {e}").format(source=source, e=e)
        ) from None


def _merge(base: dict, user: dict, source: str) -> dict:
    """Nodes of *user* replace fields of same-id nodes in *base*; new ids are appended."""
    merged = dict(base)
    if "ignore" in user:
        merged["ignore"] = user["ignore"]
    nodes = [dict(n) for n in base.get("node", [])]
    by_id = {n.get("id"): n for n in nodes}
    user_nodes = user.get("node", [])
    if not isinstance(user_nodes, list):
        raise ConfigError(
            _("{source}: node must be an array of tables ([[node]])").format(source=source)
        )
    for raw in user_nodes:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise ConfigError(_("{source}: every [[node]] needs an id").format(source=source))
        if raw["id"] in by_id:
            by_id[raw["id"]].update(raw)
        else:
            nodes.append(dict(raw))
            by_id[raw["id"]] = nodes[-1]
    merged["node"] = nodes
    return merged


# ---- reading the rules file's nodes (Rules.from_data) ----------------------------------------


def _parse_node(raw: object, source: str, nodes: dict[str, Category]) -> Category:
    """One ``[[node]]`` table as a category (its children not yet known); ConfigError
    for anything wrong in it, or an id *nodes* has already."""
    if not isinstance(raw, dict):
        raise ConfigError(_("{source}: every [[node]] must be a table").format(source=source))
    unknown = set(raw) - _NODE_KEYS
    if unknown:
        raise ConfigError(
            _("{source}: unknown key(s) {keys} in a [[node]]").format(
                source=source, keys=", ".join(sorted(unknown))
            )
        )
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise ConfigError(_("{source}: a [[node]] has no id").format(source=source))
    if node_id in nodes:
        raise ConfigError(
            _("{source}: node id {node_id!r} appears twice").format(source=source, node_id=node_id)
        )
    paths = raw.get("paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ConfigError(
            _("{source}: node {node_id!r}: paths must be a list of strings").format(
                source=source, node_id=node_id
            )
        )
    for key in ("manual", "auto", "catch_all"):
        if key in raw and not isinstance(raw[key], bool):
            raise ConfigError(
                _("{source}: node {node_id!r}: {key} must be true or false").format(
                    source=source, node_id=node_id, key=key
                )
            )
    for key in ("label", "parent", "reason"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(
                _("{source}: node {node_id!r}: {key} must be a string").format(
                    source=source, node_id=node_id, key=key
                )
            )
    return Category(
        id=node_id,
        label=raw.get("label", node_id),
        parent=raw.get("parent"),
        paths=tuple("/".join(_split(p)) for p in paths),
        manual=raw.get("manual"),
        auto=raw.get("auto"),
        reason=raw.get("reason", ""),
        catch_all=raw.get("catch_all", False),
    )


def _link_children(nodes: dict[str, Category], source: str) -> None:
    """Each node's children, from the parents the nodes name (an unknown one: ConfigError)."""
    children: dict[str, list[str]] = {nid: [] for nid in nodes}
    for node in nodes.values():
        if node.parent is not None:
            if node.parent not in nodes:
                raise ConfigError(
                    _("{source}: node {id!r} names unknown parent {parent!r}").format(
                        source=source, id=node.id, parent=node.parent
                    )
                )
            children[node.parent].append(node.id)
    for nid, kids in children.items():
        nodes[nid] = replace(nodes[nid], children=tuple(kids))


def _check_no_loops(nodes: dict[str, Category], source: str) -> None:
    for node in nodes.values():
        seen, cur = set(), node
        while cur.parent is not None:
            if cur.id in seen:
                raise ConfigError(
                    _("{source}: the parents of {id!r} form a loop").format(
                        source=source, id=node.id
                    )
                )
            seen.add(cur.id)
            cur = nodes[cur.parent]


def _check_shape(nodes: dict[str, Category], leaves: list[Category], source: str) -> str:
    """Exactly one catch-all leaf (its id is returned), paths only on leaves, every leaf
    with manual and auto."""
    catch_alls = [n.id for n in leaves if n.catch_all]
    if len(catch_alls) != 1:
        raise ConfigError(
            _("{source}: exactly one leaf must have catch_all = true").format(source=source)
        )
    for node in nodes.values():
        if not node.is_leaf and (node.paths or node.catch_all):
            raise ConfigError(
                _("{source}: node {id!r} has children and cannot hold paths").format(
                    source=source, id=node.id
                )
            )
        if node.is_leaf and (node.manual is None or node.auto is None):
            raise ConfigError(
                _("{source}: leaf {id!r} needs manual and auto").format(source=source, id=node.id)
            )
    return catch_alls[0]


def _leaf_prefixes(leaves: list[Category], source: str) -> dict[tuple[str, ...], str]:
    """The leaf each path belongs to (a path of two leaves: ConfigError)."""
    prefixes: dict[tuple[str, ...], str] = {}
    for leaf in leaves:
        for p in leaf.paths:
            parts = _split(p)
            if parts in prefixes:
                raise ConfigError(
                    _("{source}: path {p!r} belongs to both {prefixes!r} and {id!r}").format(
                        source=source, p=p, prefixes=prefixes[parts], id=leaf.id
                    )
                )
            prefixes[parts] = leaf.id
    return prefixes
