"""The category tree with a tick box, file count and size on every node.

Textual's Tree has no checkbox mode: the tick state lives in each node's data (leaves
hold it; a parent shows all / none / some of its leaves). Space ticks, Enter expands.
The same tree picks what goes into a backup (sizes from a scan of the data folder) and
what comes back from one (sizes from the backup's index; what it lacks cannot be ticked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from therabak import formatting
from therabak.i18n import N_, _

LABEL_WIDTH = 26  # at least; longer labels (German) widen the column up to MAX_LABEL_WIDTH
MAX_LABEL_WIDTH = 31
FILES_WIDTH = 12
SIZE_WIDTH = 11
GUIDE_DEPTH = 3
MARKS = {"all": "[x]", "none": "[ ]", "some": "[~]"}


@dataclass
class CategoryData:
    id: str
    label: str
    depth: int
    leaf: bool
    default: bool  # included by default (leaves)
    reason: str  # why it is not included by default
    ticked: bool = False  # leaves only
    files: int | None = None  # None until the sizes are known
    bytes: int | None = None
    available: bool = True  # can be ticked (a restore: the backup holds it)
    note: str = ""  # msgid shown after the sizes ("not by default", "not in this backup")


class CategoryTree(Tree[CategoryData]):
    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "

    BINDINGS = [
        Binding("space", "tick", N_("Tick"), key_display="space"),
        Binding("enter", "toggle_node", N_("Expand"), key_display="enter/→"),
        Binding("right", "expand", N_("Expand"), show=False),
        Binding("left", "collapse", N_("Collapse"), show=False),
    ]

    class Changed(Message):
        """The ticked leaves changed."""

        def __init__(self, tree: CategoryTree, selection: frozenset[str]) -> None:
            super().__init__()
            self.tree = tree
            self.selection = selection

        @property
        def control(self) -> CategoryTree:
            return self.tree

    def __init__(
        self,
        nodes: Iterable[CategoryData],
        parents: Mapping[str, str | None],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__("categories", id=id)
        self.show_root = False
        self.guide_depth = GUIDE_DEPTH
        self.auto_expand = False
        self._by_id: dict[str, TreeNode[CategoryData]] = {}
        items = list(nodes)
        has_children = {p for p in parents.values() if p is not None}
        for data in items:
            parent_id = parents.get(data.id)
            parent = self.root if parent_id is None else self._by_id[parent_id]
            node = parent.add(
                data.label,
                data=data,
                expand=data.depth == 0,
                allow_expand=data.id in has_children,
            )
            self._by_id[data.id] = node

    @classmethod
    def for_backup(
        cls, rules, selection: Iterable[str], kind, *, id: str | None = None
    ) -> CategoryTree:
        """What goes into a backup of *kind*: everything tickable, defaults ticked."""
        chosen = frozenset(selection)
        nodes, parents = [], {}
        for depth, cat in rules.walk():
            parents[cat.id] = cat.parent
            default = cat.is_leaf and cat.default_for(kind)
            nodes.append(
                CategoryData(
                    id=cat.id,
                    label=cat.label,
                    depth=depth,
                    leaf=cat.is_leaf,
                    default=default,
                    reason=cat.reason,
                    ticked=cat.id in chosen,
                    note=N_("not by default") if cat.is_leaf and not default else "",
                )
            )
        return cls(nodes, parents, id=id)

    @classmethod
    def for_restore(
        cls, rules, totals: Mapping[str, object], held: Iterable[str], *, id: str | None = None
    ) -> CategoryTree:
        """What comes back from a backup: the categories it holds, all ticked; sizes from
        its index (*totals* per node); the others cannot be ticked."""
        held = frozenset(held)
        nodes, parents = [], {}
        for depth, cat in rules.walk():
            parents[cat.id] = cat.parent
            t = totals.get(cat.id)
            files = t.files if t is not None else 0  # type: ignore[attr-defined]
            size = t.bytes if t is not None else 0  # type: ignore[attr-defined]
            available = any(leaf in held for leaf in rules.leaves_under(cat.id))
            nodes.append(
                CategoryData(
                    id=cat.id,
                    label=cat.label,
                    depth=depth,
                    leaf=cat.is_leaf,
                    default=available,
                    reason="",
                    ticked=cat.is_leaf and available,
                    files=files,
                    bytes=size,
                    available=available,
                    note="" if available or not cat.is_leaf else N_("not in this backup"),
                )
            )
        return cls(nodes, parents, id=id)

    # ---- state ----------------------------------------------------------------------

    def leaves_of(self, node: TreeNode[CategoryData]) -> list[CategoryData]:
        data = node.data
        if data is not None and data.leaf:
            return [data]
        out: list[CategoryData] = []
        for child in node.children:
            out.extend(self.leaves_of(child))
        return out

    def tick_state(self, node: TreeNode[CategoryData]) -> str:
        leaves = [leaf for leaf in self.leaves_of(node) if leaf.available]
        n = sum(leaf.ticked for leaf in leaves)
        return "all" if leaves and n == len(leaves) else "none" if n == 0 else "some"

    @property
    def selection(self) -> frozenset[str]:
        return frozenset(d.id for d in self.leaves_of(self.root) if d.ticked)

    @property
    def selectable(self) -> frozenset[str]:
        return frozenset(d.id for d in self.leaves_of(self.root) if d.available)

    def node_for(self, category_id: str) -> TreeNode[CategoryData]:
        return self._by_id[category_id]

    def set_selection(self, selection: Iterable[str]) -> None:
        chosen = frozenset(selection)
        for leaf in self.leaves_of(self.root):
            leaf.ticked = leaf.available and leaf.id in chosen
        self._changed()

    def set_totals(self, totals: Mapping[str, object]) -> None:
        """Fill in files and bytes per node (``Tally``-like values with .files/.bytes)."""
        for cid, node in self._by_id.items():
            t = totals.get(cid)
            if t is not None and node.data is not None:
                node.data.files = t.files  # type: ignore[attr-defined]
                node.data.bytes = t.bytes  # type: ignore[attr-defined]
        self._invalidate()

    def _changed(self) -> None:
        self._invalidate()
        self.post_message(self.Changed(self, self.selection))

    # ---- actions --------------------------------------------------------------------

    def action_tick(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        leaves = [leaf for leaf in self.leaves_of(node) if leaf.available]
        if not leaves:
            return
        new = self.tick_state(node) != "all"
        for leaf in leaves:
            leaf.ticked = new
        self._changed()

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # ---- rendering ------------------------------------------------------------------

    def _label_width(self) -> int:
        """The label column: as wide as the longest label in the current language needs."""
        from therabak.i18n import get_language

        lang = get_language()
        cached = getattr(self, "_label_width_cache", None)
        if cached is None or cached[0] != lang:
            need = max(
                (len(_(n.data.label)) + n.data.depth * GUIDE_DEPTH for n in self._by_id.values()),
                default=0,
            )
            cached = (lang, min(MAX_LABEL_WIDTH, max(LABEL_WIDTH, need)))
            self._label_width_cache = cached
        return cached[1]

    def render_label(self, node: TreeNode[CategoryData], base_style: Style, style: Style) -> Text:
        data = node.data
        if data is None:
            return Text()
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        else:
            icon = "  "
        state = self.tick_state(node)
        dim = state == "none"
        width = max(8, self._label_width() - data.depth * GUIDE_DEPTH)
        label = _(data.label)  # the rules' English label is the msgid
        label = label if len(label) <= width else label[: width - 1] + "…"
        if not data.available:
            files, size = "", ""
        elif data.files is None:
            files, size = "…", "…"
        else:
            files = formatting.files(data.files)
            size = formatting.size(data.bytes or 0)
        mark = MARKS[state] if any(leaf.available for leaf in self.leaves_of(node)) else " - "
        text = Text.assemble(
            (icon, base_style),
            (mark, "dim" if dim else "bold"),
            " ",
            (label.ljust(width), "dim" if dim else ""),
        )
        if not data.available and data.note:
            # no sizes for what the backup does not hold: the note takes their place,
            # so it is never cut (a cut "not in this back…" said nothing)
            text.append("  " + _(data.note), style="italic dim")
            text.stylize(style)
            return text
        text.append(files.rjust(FILES_WIDTH), "dim" if not data.files else "")
        text.append(size.rjust(SIZE_WIDTH), "dim" if not data.files else "")
        if data.note:
            # cut to what is left of the line (a vertical scrollbar takes two columns):
            # never a horizontal scrollbar for a note
            room = self.scrollable_content_region.width - data.depth * GUIDE_DEPTH
            room -= text.cell_len + 2
            note = _(data.note)
            if room > 0 and len(note) > room:
                note = note[: max(room - 1, 0)] + "…"
            text.append("  " + note, style="italic dim")
        text.stylize(style)
        return text
