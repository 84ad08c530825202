"""Screens that speak the current language, and switch it without a restart.

Key bindings are declared with their English description as the msgid (``N_("Back")``)
and translated here, each time the footer or the help screen asks for them, so a
language switch shows at once. A screen's texts are made in ``compose``: switching the
language recomposes every screen on the stack (:meth:`Translated.retranslate`), and a
screen that fills widgets in ``on_mount`` does that again in :meth:`after_recompose`.
"""

from __future__ import annotations

from dataclasses import replace

from textual.binding import ActiveBinding
from textual.screen import ModalScreen, Screen

from therabak.i18n import N_, NP_, translate, translate_in

#: Texts of Textual's own bindings that the footer shows, translated like ours.
TEXTUAL_TEXTS = (N_("palette"), N_("Open the command palette"))

#: Key descriptions that a language may shorten in the footer (80 columns); the help
#: screen shows the full words (they become the tooltip).
FOOTER = "footer"
FOOTER_TEXTS = (
    NP_("footer", "Browse"),
    NP_("footer", "Sort by date"),
    NP_("footer", "Search a folder"),
)


def _tr(text: str) -> str:
    return translate(text) if text else text


class Translated:
    """Mixin for a Screen or ModalScreen (put it first in the bases)."""

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        shown: dict[str, ActiveBinding] = {}
        for key, active in super().active_bindings.items():  # type: ignore[misc]
            b = active.binding
            description, tooltip = _tr(b.description), _tr(b.tooltip)
            short = translate_in(FOOTER, b.description) if b.description else None
            if short and short != description:
                description, tooltip = short, tooltip or description
            binding = replace(b, description=description, tooltip=tooltip)
            shown[key] = ActiveBinding(
                active.node, binding, active.enabled, _tr(active.tooltip or "")
            )
        return shown

    async def retranslate(self) -> None:
        """Show this screen in the current language (after :func:`set_language`)."""
        await self.recompose()  # type: ignore[attr-defined]
        self.after_recompose()
        self.refresh_bindings()  # type: ignore[attr-defined]

    def after_recompose(self) -> None:
        """Fill what ``on_mount`` fills, for the widgets a recompose made anew."""


class AppScreen(Translated, Screen):
    """A full screen of the app."""


__all__ = ["AppScreen", "ModalScreen", "Translated"]
