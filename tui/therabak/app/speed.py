"""The speed line of a running job: "12.4 MB/s · about 3 min left" (for a backup to an
off-site destination: "Upload 1.2 MB/s · about 3 min left").

No Textual here. The rate is the one of the last :data:`WINDOW_S` seconds as the events
arrived (the job's own figure is its average since the phase began, which hides a line
that slowed down); before the window holds two readings (the first seconds, or a
replay after a re-attach, when every event arrives at once) the job's own figure is
used. The line the screen shows changes at most every :data:`HOLD_S` seconds, and the
time left is said in whole minutes above a minute, so the numbers do not flicker.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from therabak import formatting
from therabak.events import Progress
from therabak.i18n import _, ngettext

#: seconds of readings the rate is taken over
WINDOW_S = 10.0
#: the shortest span of readings a rate is taken from (else the job's own figure)
MIN_SPAN_S = 2.0
#: the shown line changes at most this often (seconds)
HOLD_S = 2.0


def time_left(seconds: float) -> str:
    """``less than a minute left``, ``about 3 min left``, ``about 1 h 20 min left``."""
    if seconds < 60:
        return _("less than a minute left")
    minutes = int(seconds / 60 + 0.5)
    if minutes < 60:
        return ngettext("about {n} min left", "about {n} min left", minutes).format(n=minutes)
    hours, minutes = divmod(minutes, 60)
    return _("about {h} h {m} min left").format(h=hours, m=minutes)


def speed_text(rate: float, eta_s: float | None, *, upload: bool = False) -> str:
    """The line itself, from a rate (bytes per second) and the seconds left (None: not
    known yet)."""
    shown = formatting.rate(rate)
    parts = [_("Upload {rate}").format(rate=shown) if upload else shown]
    if eta_s is not None:
        parts.append(time_left(eta_s))
    return "  ·  ".join(parts)


@dataclass
class SpeedGauge:
    """Readings of one job's progress, and the speed line made of them."""

    upload: bool = False  # the job writes to an off-site destination
    _phase: str = ""
    _readings: deque[tuple[float, int]] = field(default_factory=deque)
    _shown: str = ""
    _shown_at: float | None = None

    def add(self, progress: Progress, now: float) -> None:
        """Take in a progress event received at *now* (a monotonic clock, seconds)."""
        if progress.phase != self._phase:  # another phase counts other bytes
            self._phase = progress.phase
            self._readings.clear()
            self._shown, self._shown_at = "", None
        readings = self._readings
        if readings and progress.bytes_done < readings[-1][1]:  # a retry rewound them
            readings.clear()
        readings.append((now, progress.bytes_done))
        while len(readings) > 2 and now - readings[1][0] >= WINDOW_S:
            readings.popleft()

    def rate(self, progress: Progress) -> float:
        """Bytes per second over the window, else the job's own figure."""
        if len(self._readings) >= 2:
            (t0, b0), (t1, b1) = self._readings[0], self._readings[-1]
            if t1 - t0 >= MIN_SPAN_S:
                return max(0.0, (b1 - b0) / (t1 - t0))
        return progress.rate

    def line(self, progress: Progress | None, now: float) -> str:
        """What the speed line shows now ("" before there is a rate, and when the phase
        is done)."""
        if progress is None or progress.bytes_done >= progress.bytes_total:
            self._shown, self._shown_at = "", None
            return ""
        if self._shown_at is not None and now - self._shown_at < HOLD_S:
            return self._shown
        rate = self.rate(progress)
        if rate <= 0:
            return self._shown
        eta = (progress.bytes_total - progress.bytes_done) / rate if progress.bytes_done else None
        upload = self.upload and progress.phase == "writing"
        self._shown, self._shown_at = speed_text(rate, eta, upload=upload), now
        return self._shown
