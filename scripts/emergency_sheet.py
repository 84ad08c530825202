"""Make the PNGs of the emergency sheet in ``screenshots/en/`` and ``screenshots/de/``.

    python scripts/emergency_sheet.py [--out screenshots] [--lang en de] [--dpi 110]

The sheet is made by the real renderer (therabak.emergency.sheet: fpdf2, segno, the
shipped DejaVu fonts) and rendered to pixels with pypdfium2 (a test extra), for a
practice as it would look on Windows: a USB stick, a NAS share and the automatic
backups, on 27 November 2026; the recovery code is a fixed example (not a secret).
Beside each PNG the script also writes the PDF (``emergency-sheet.pdf``) so it can be
printed and looked at on paper.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BERLIN = timezone(timedelta(hours=1))


def example_code():
    from therabak.crypto.recovery import ALPHABET, DATA_SYMBOLS, RecoveryCode, _checksum

    value = int.from_bytes(b"therabak-example-code", "big") % (1 << 130)
    data = [(value >> 5 * (DATA_SYMBOLS - 1 - i)) & 31 for i in range(DATA_SYMBOLS)]
    return RecoveryCode.parse("".join(ALPHABET[v] for v in data + _checksum(data)))


def example_facts():
    from therabak.emergency.facts import PlaceFacts, SheetFacts

    made = datetime(2026, 11, 27, 18, 30, tzinfo=BERLIN)
    return SheetFacts(
        made=made,
        places=[
            PlaceFacts(
                "E:\\TheraPsy-Backups",
                "remembered",
                True,
                manual=6,
                with_code=6,
                newest=made - timedelta(minutes=12),
            ),
            PlaceFacts(
                "\\\\PRAXIS-NAS\\Datensicherung\\TheraPsy",
                "remembered",
                False,
                manual=0,
            ),
            PlaceFacts(
                "C:\\Users\\praxis\\AppData\\Local\\TheraPsy\\TheraPsy-Auto-Backups",
                "automatic",
                True,
                automatic=14,
                newest=made - timedelta(hours=3),
            ),
        ],
        code_opens=6,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--lang", nargs="+", default=["en", "de"], choices=["en", "de"])
    parser.add_argument("--dpi", type=int, default=110)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tui"))
    import os
    import time

    os.environ["TZ"] = "Europe/Berlin"
    if hasattr(time, "tzset"):
        time.tzset()
    import pypdfium2

    from therabak.emergency.sheet import render_sheet

    for lang in args.lang:
        folder = args.out / lang
        folder.mkdir(parents=True, exist_ok=True)
        pdf_path = folder / "emergency-sheet.pdf"
        pdf_path.write_bytes(render_sheet(example_facts(), lang=lang, code=example_code()))
        page = pypdfium2.PdfDocument(str(pdf_path))[0]
        image = page.render(scale=args.dpi / 72).to_pil()
        png = folder / "emergency-sheet.png"
        image.save(png, optimize=True)
        print(f"{png} ({image.width}x{image.height}), {pdf_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
