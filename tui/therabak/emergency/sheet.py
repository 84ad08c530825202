"""The emergency sheet (Notfallblatt): one A4 page, as PDF, in German or English.

What the backups are, where they are (:mod:`therabak.emergency.facts`), the recovery
code when the user chose to include it (with a QR code of it, and a warning that whoever
holds the sheet can read the backups; otherwise boxes to write it in by hand), and the
restore on a new computer in plain words.

Made with fpdf2 (the PDF) and segno (the QR code, drawn as vector squares, so it prints
sharp at any size). The fonts are DejaVu Sans (shipped in ``fonts/`` with their
license), embedded as subsets so umlauts print everywhere. The text is real text (a
PDF reader can copy it, a screen reader can read it). Engine code: no Textual.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from therabak.emergency.facts import PlaceFacts, SheetFacts
from therabak.errors import TherabakError
from therabak.i18n import _, get_language, ngettext, speaking

if TYPE_CHECKING:
    from fpdf import FPDF

    from therabak.crypto.recovery import RecoveryCode

FONT_DIR = Path(__file__).parent / "fonts"
FONTS = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("mono", "B"): "DejaVuSansMono-Bold.ttf",
}
PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
MARGIN = 17.0
BOTTOM = PAGE_H - 12.0
MAX_PLACES = 6  # at most; more are summed up in one line, so the sheet stays one page
QR_SIZE = 31.0  # the QR code's modules, without its quiet zone
INK = (0, 0, 0)
GREY = (90, 90, 90)
RED = (170, 0, 0)


class SheetTooLongError(TherabakError):
    """The content does not fit one page (a layout bug: the sheet limits what it lists)."""


def render_sheet(facts: SheetFacts, *, lang: str, code: RecoveryCode | None = None) -> bytes:
    """The PDF's bytes. *code* is printed (with its QR code) only when given.

    Places beyond what fits are summed up in one line ("… and 3 more places"): the
    sheet lists at most MAX_PLACES, and fewer when long names take more room."""
    with speaking(lang):
        for max_places in range(MAX_PLACES, 0, -1):
            try:
                return _Sheet(facts, code, max_places).render()
            except SheetTooLongError:
                if max_places == 1:
                    raise
    raise AssertionError("unreachable")


class _Sheet:
    def __init__(self, facts: SheetFacts, code: RecoveryCode | None, max_places: int) -> None:
        from fpdf import FPDF

        self.facts = facts
        self.code = code
        self.max_places = max_places
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        for (family, style), name in FONTS.items():
            pdf.add_font(family, style, str(FONT_DIR / name))
        pdf.set_title(_("Emergency sheet: the practice's backups"))
        pdf.set_creator("therabak")
        pdf.set_lang("de-DE" if get_language() == "de" else "en")
        pdf.set_creation_date(facts.made)
        pdf.add_page()
        self.pdf: FPDF = pdf

    # ---- building blocks -----------------------------------------------------------------

    def font(self, size: float, style: str = "", family: str = "sans") -> None:
        self.pdf.set_font(family, style, size)

    def color(self, rgb: tuple[int, int, int]) -> None:
        self.pdf.set_text_color(*rgb)

    def text(self, text: str, size: float = 10, style: str = "", h: float | None = None) -> None:
        self.font(size, style)
        self.pdf.multi_cell(
            0, h or size * 0.48, text, new_x="LMARGIN", new_y="NEXT", markdown=True, align="L"
        )

    def heading(self, text: str) -> None:
        pdf = self.pdf
        pdf.ln(3.2)
        self.color(INK)
        self.font(12.5, "B")
        pdf.cell(0, 6.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(*GREY)
        pdf.set_line_width(0.3)
        pdf.line(MARGIN, pdf.get_y(), PAGE_W - MARGIN, pdf.get_y())
        pdf.ln(1.8)

    # ---- the page ------------------------------------------------------------------------

    def render(self) -> bytes:
        self.title()
        self.what()
        self.where()
        self.recovery_code()
        self.steps()
        end = self.pdf.get_y()
        self.footer()
        if self.pdf.page_no() != 1 or end > BOTTOM - 5:
            raise SheetTooLongError(
                _("The emergency sheet does not fit on one page; nothing was written.")
            )
        return bytes(self.pdf.output())

    def title(self) -> None:
        pdf = self.pdf
        self.color(INK)
        self.font(21, "B")
        pdf.cell(0, 10, _("Emergency sheet"), new_x="LMARGIN", new_y="NEXT")
        self.font(13)
        pdf.cell(0, 7, _("The backups of the practice data"), new_x="LMARGIN", new_y="NEXT")
        self.color(GREY)
        from therabak import formatting

        self.text(
            _(
                "Made by therabak on {date}. Keep it with the practice papers, not beside "
                "the computer, and make a new one when the backups go somewhere else."
            ).format(date=formatting.local_time(self.facts.made)),
            size=8.5,
        )
        self.color(INK)

    def what(self) -> None:
        self.heading(_("What the backups are"))
        self.text(
            _(
                "therabak makes encrypted backups of the data of the TheraPsy practice "
                "software: client profiles, session notes, audio recordings, documents, "
                "diagnoses and invoices. **Manual backups** (files named "
                "TheraPsy-Backup-<date>.therabak) hold everything and open on any computer "
                "with their password, or with the recovery code. **Automatic backups** and "
                "**folder backups** open only with this computer's account key."
            )
        )

    def where(self) -> None:
        from therabak import formatting

        self.heading(_("Where they are"))
        places = self.facts.places
        if not places:
            self.text(
                _(
                    "No backup has been made yet. Make a manual backup to a USB stick, then "
                    "make this sheet again."
                )
            )
            return
        pdf = self.pdf
        for place in places[: self.max_places]:
            self.font(10, "B")
            pdf.multi_cell(0, 4.8, place.place, new_x="LMARGIN", new_y="NEXT", align="L")
            self.color(GREY)
            pdf.set_x(MARGIN + 5)
            self.font(9)
            line = _place_line(place, formatting)
            pdf.multi_cell(0, 4.3, line, new_x="LMARGIN", new_y="NEXT", align="L")
            self.color(INK)
            pdf.ln(0.8)
        rest = len(places) - self.max_places
        if rest > 0:
            self.text(
                ngettext(
                    "… and {n} more place (therabak list shows them all).",
                    "… and {n} more places (therabak list shows them all).",
                    rest,
                ).format(n=rest),
                size=9,
            )

    def recovery_code(self) -> None:
        self.heading(_("Recovery code"))
        if self.code is None:
            self.handwritten_boxes()
        else:
            self.printed_code(self.code)

    def printed_code(self, code: RecoveryCode) -> None:
        import segno

        pdf = self.pdf
        top = pdf.get_y()
        qr = segno.make_qr(code.display(), error="m")
        rows = [list(r) for r in qr.matrix_iter(scale=1, border=0)]
        cell = QR_SIZE / len(rows)
        quiet = 4 * cell  # the quiet zone a QR code needs around it, inside the frame
        box_h = QR_SIZE + 2 * quiet
        left = MARGIN + pdf.c_margin
        pdf.set_draw_color(*RED)
        pdf.set_line_width(0.8)
        pdf.rect(left, top, PAGE_W - MARGIN - pdf.c_margin - left, box_h)
        # the QR code, right: vector squares
        x0 = PAGE_W - MARGIN - pdf.c_margin - quiet - QR_SIZE
        y0 = top + quiet
        pdf.set_fill_color(*INK)
        for r, row in enumerate(rows):
            for c, dark in enumerate(row):
                if dark:
                    pdf.rect(x0 + c * cell, y0 + r * cell, cell, cell, style="F")
        # the code, left
        groups = code.groups()
        half = len(groups) // 2
        width = x0 - quiet - left - 4
        pdf.set_xy(left + 3, top + 4)
        self.color(GREY)
        self.font(8.5)
        pdf.cell(width, 4.5, _("Recovery code (capital or small letters, all the same):"))
        self.color(INK)
        self.font(17, "B", family="mono")
        for i, line in enumerate(("-".join(groups[:half]), "-".join(groups[half:]))):
            pdf.set_xy(left + 3, top + 10.5 + i * 8.5)
            pdf.cell(width, 8, line)
        self.color(RED)
        self.font(9, "B")
        pdf.set_xy(left + 3, top + 29.5)
        pdf.multi_cell(
            width,
            4.3,
            _(
                "Whoever holds this sheet can read the backups. Keep it locked away, like "
                "the keys to the practice."
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        self.color(INK)
        pdf.set_y(top + box_h + 1.5)
        if self.facts.code_opens is not None:
            self.color(GREY)
            self.text(
                ngettext(
                    "This code opens {n} of the backups found now.",
                    "This code opens {n} of the backups found now.",
                    self.facts.code_opens,
                ).format(n=self.facts.code_opens)
                if self.facts.code_opens
                else _(
                    "This code opens none of the backups found now: check that it is the right one."
                ),
                size=8.5,
            )
            self.color(INK)

    def handwritten_boxes(self) -> None:
        pdf = self.pdf
        self.text(
            _(
                "The recovery code is not printed on this sheet. If the backups have one, "
                "you can write it into these boxes by hand; then keep the sheet locked away, "
                "because whoever holds the code can read the backups."
            ),
            size=9.5,
        )
        pdf.ln(2)
        top = pdf.get_y()
        gap = 2.5
        left = MARGIN + pdf.c_margin
        w = (PAGE_W - 2 * left - 3 * gap) / 4
        pdf.set_draw_color(*GREY)
        pdf.set_line_width(0.3)
        for row in range(2):
            for col in range(4):
                pdf.rect(left + col * (w + gap), top + row * 11, w, 9)
        pdf.set_y(top + 2 * 11 + 1)

    def steps(self) -> None:
        self.heading(_("Restoring on a new computer, step by step"))
        steps = [
            _(
                "Install therabak on the new computer (the person who looks after your "
                "computer can do it: pip install therabak), and TheraPsy if it is missing."
            ),
            _("Plug in the USB stick or drive that holds the backup (see above)."),
            _(
                "Open the app: type **therabak-tui** in a terminal window (on Windows: "
                "the Command Prompt) and press Enter."
            ),
            _(
                "Press **r** (Restore). The app lists the backups it finds: choose the "
                "newest manual backup with the arrow keys and press Enter. Not in the "
                "list? Press **a** and choose the folder."
            ),
            _(
                "Type the backup's password. Forgotten? Choose **Forgot the password? Use "
                "the recovery code** and type the code from this sheet."
            ),
            _(
                "Check what comes back and confirm. therabak makes a new account key for "
                "this computer: keep a copy of the file account.key in a safe place."
            ),
            _("Open TheraPsy: the data is back. Then make a new manual backup."),
        ]
        pdf = self.pdf
        for n, step in enumerate(steps, 1):
            self.font(10, "B")
            y = pdf.get_y()
            pdf.cell(7, 4.7, f"{n}.")
            pdf.set_xy(MARGIN + 7, y)
            self.font(10)
            pdf.multi_cell(0, 4.7, step, new_x="LMARGIN", new_y="NEXT", markdown=True, align="L")
            pdf.ln(0.7)

    def footer(self) -> None:
        from therabak import __version__

        pdf = self.pdf
        pdf.set_y(BOTTOM - 4)
        self.color(GREY)
        self.font(7.5)
        pdf.cell(
            0,
            4,
            _(
                "therabak {version} · help: therabak --help, or the person who looks after "
                "your computer"
            ).format(version=__version__),
            align="C",
        )
        self.color(INK)


def _place_line(place: PlaceFacts, formatting) -> str:
    """What is found at *place*, in one sentence."""
    parts = []
    if place.manual:
        parts.append(
            ngettext("{n} manual backup", "{n} manual backups", place.manual).format(n=place.manual)
        )
    if place.automatic:
        parts.append(
            ngettext("{n} automatic backup", "{n} automatic backups", place.automatic).format(
                n=place.automatic
            )
        )
    if place.folder_backups:
        parts.append(
            ngettext("{n} folder backup", "{n} folder backups", place.folder_backups).format(
                n=place.folder_backups
            )
        )
    if parts:
        line = _("{found}, the newest from {date}").format(
            found=", ".join(parts), date=_date(place.newest, formatting)
        )
        if place.with_code:
            line += " " + _("({n} of them also with the recovery code)").format(n=place.with_code)
        if place.source == "automatic":
            line += ". " + _("On this computer only: no help when the computer is lost.")
        return line
    if not place.available:
        return _(
            "Backups were made to this place; it cannot be reached now (a USB stick that "
            "is not plugged in?)."
        )
    return _("Backups were made to this place; none is there now.")


def _date(when: datetime | None, formatting) -> str:
    return formatting.local_time(when) if when else _("an unknown date")
