"""The engine's only voice: typed events that the CLI renders and the app consumes.

Every event is a dataclass with a ``type`` tag and a JSON form, one object per line in
``--json`` output: :meth:`Event.to_json` gives the object, :meth:`Event.to_line` the
line, and :meth:`Event.from_json` makes the event again from the object (the app reads
a job's stream with it). Events never carry secrets.

The last event of a job is a :class:`Summary` carrying the job's result (a dataclass
with ``to_json()``/``from_json()`` of its own, flattened into the summary's object;
:meth:`Summary.of` and :meth:`Summary.result`), or an :class:`Error`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self, TypeVar

from therabak.i18n import Message


class JsonForm(Protocol):
    """A job's result: a dataclass with a JSON form (what its summary carries)."""

    duration_s: float

    @property
    def exit_code(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self: ...


R = TypeVar("R", bound=JsonForm)


@dataclass
class Event:
    type: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        """The JSON form. Human texts are English; those that were translated messages
        also appear, as msgid and arguments, under ``i18n`` (keyed by their place, e.g.
        ``message`` or ``warnings/0``), so a reader can show them in another language."""
        data: dict[str, Any] = {"event": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" and isinstance(value, dict):
                data.update(value)
            else:
                data[f.name] = value
        translated: dict[str, Any] = {}
        data = _english(data, "", translated)
        if translated:
            data["i18n"] = translated
        return data

    def to_line(self, *, ascii_only: bool = False) -> str:
        """The JSON form as one line of ``--json`` output."""
        return json.dumps(self.to_json(), ensure_ascii=ascii_only, default=str)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """The event again from its JSON form (by its ``event`` tag; on a subclass, one
        of that class or ValueError). Texts that carry their msgid come back in the
        current language."""
        event = _from_json(data)
        if not isinstance(event, cls):
            raise ValueError(f"not a {cls.type} event: {data.get('event')!r}")
        return event


@dataclass
class Phase(Event):
    """A job moved to a new phase (scanning, writing, verifying, staging, swapping ...)."""

    type: ClassVar[str] = "phase"
    name: str
    detail: str = ""


@dataclass
class Progress(Event):
    type: ClassVar[str] = "progress"
    phase: str
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    current: str = ""
    rate: float = 0.0  # bytes per second
    eta_s: float | None = None
    # a store backup: files (and their bytes) taken unchanged from the previous backup,
    # not read; bytes_total and files_total count only what is read
    files_reused: int = 0
    bytes_reused: int = 0


@dataclass
class Retry(Event):
    """Reading a source file failed; it will be tried again after ``delay_s``."""

    type: ClassVar[str] = "retry"
    path: str
    attempt: int  # the attempt that failed, 1-based
    max: int
    error: str
    delay_s: float
    code: str = ""  # decrypt | changed | locked | read: what kind of failure it was


@dataclass
class FileOutcome(Event):
    """How a file that needed retries (or could not be read) ended."""

    type: ClassVar[str] = "file_outcome"
    path: str
    outcome: str  # recovered | raw | skipped | failed
    attempts: int
    error: str = ""


@dataclass
class Warning(Event):  # noqa: A001 - the event is called warning in the JSON stream
    type: ClassVar[str] = "warning"
    message: str
    path: str = ""
    code: str = ""


class DamagedPart(StrEnum):
    """A part of a backup that is not a file. Damage to it is reported with the part in
    place of a path (the value, in parentheses, is what the JSON says there); a caller
    tells it from a file by its type, ``isinstance(path, DamagedPart)``."""

    HEADER = "(header)"
    INDEX = "(index)"
    VOLUMES = "(volumes)"  # the volumes of a split backup (one missing, or not fitting)
    STRUCTURE = "(archive structure)"  # bytes between entries that no entry explains


@dataclass
class Damaged(Event):
    """An archive entry (or region) failed verification."""

    type: ClassVar[str] = "damaged"
    path: str
    reason: str


@dataclass
class Summary(Event):
    """The last event of a job. ``extra`` holds operation-specific fields (flattened in
    JSON): for a job, its result's JSON form (:meth:`of`, :meth:`result`)."""

    type: ClassVar[str] = "summary"
    operation: str
    exit_code: int
    duration_s: float
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, operation: str, result: JsonForm, message: str = "") -> Summary:
        """The summary of a job that ended with *result*."""
        return cls(
            operation=operation,
            exit_code=result.exit_code,
            duration_s=result.duration_s,
            message=message,
            extra=result.to_json(),
        )

    def result(self, kind: type[R]) -> R:
        """The job's result again, as the dataclass *kind* (raises ValueError when the
        summary does not hold one)."""
        try:
            return kind.from_json({**self.extra, "duration_s": self.duration_s})
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a {kind.__name__}: {e}") from None


@dataclass
class Error(Event):
    """A job ended with an error (instead of a summary)."""

    type: ClassVar[str] = "error"
    exit_code: int
    message: str
    hint: str = ""
    remedy: str = ""  # errors.Remedy: what can be done about it ("" when nothing)


Emit = Callable[[Event], None]


def ignore(_: Event) -> None:
    """An emitter that drops every event."""


class WarningLog:
    """An emitter that passes every event on to *emit* and keeps the warnings.

    A job emits through one, so that whatever warned (the job itself, or a job it runs)
    is known at its end: a job that printed a warning ends with exit 3 ("done with
    warnings") and lists every warning in its summary (:meth:`to_list`)."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.warnings: list[Warning] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, Warning):
            self.warnings.append(event)
        self.emit(event)

    def to_list(self) -> list[dict[str, Any]]:
        """The warnings as the summaries list them (messages stay translatable)."""
        return warning_list(self.warnings)


def warning_list(warnings: list[Warning]) -> list[dict[str, Any]]:
    return [{"message": w.message, "path": w.path, "code": w.code} for w in warnings]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (Phase, Progress, Retry, FileOutcome, Warning, Damaged, Summary, Error)
}


def _english(value: Any, place: str, translated: dict[str, Any]) -> Any:
    """*value* with every Message in English; their msgids and arguments go to
    *translated*, keyed by their place."""
    if isinstance(value, Message):
        translated[place] = value.to_data()
        return value.english()
    if isinstance(value, dict):
        return {
            k: _english(v, f"{place}/{k}" if place else str(k), translated)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_english(v, f"{place}/{i}", translated) for i, v in enumerate(value)]
    return value


def _translated(data: dict[str, Any]) -> dict[str, Any]:
    """*data* with the texts listed under ``i18n`` in the current language."""
    places = data.pop("i18n", None)
    if not isinstance(places, dict):
        return data
    for place, form in places.items():
        keys = str(place).split("/")
        holder: Any = data
        try:
            for key in keys[:-1]:
                holder = holder[int(key)] if isinstance(holder, list) else holder[key]
            last = keys[-1]
            if isinstance(holder, list):
                holder[int(last)] = Message.from_data(form, holder[int(last)])
            elif isinstance(holder, dict) and last in holder:
                holder[last] = Message.from_data(form, holder[last])
        except (KeyError, IndexError, ValueError, TypeError):
            continue
    return data


def _from_json(data: Mapping[str, Any]) -> Event:
    cls = EVENT_TYPES.get(data.get("event", ""))
    if cls is None:
        raise ValueError(f"unknown event {data.get('event')!r}")
    data = _translated(dict(data))
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if "extra" in names:
        kwargs["extra"] = {k: v for k, v in data.items() if k not in names and k != "event"}
    return cls(**kwargs)


class Throttle:
    """Pass an event at most ``rate`` times a second; ``force`` always passes."""

    def __init__(self, emit: Emit, rate: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self._emit = emit
        self._interval = 1.0 / rate
        self._clock = clock
        self._last = -1e9

    def due(self) -> bool:
        """Whether an event would pass now (so callers can skip building one)."""
        return self._clock() - self._last >= self._interval

    def __call__(self, event: Event, *, force: bool = False) -> None:
        now = self._clock()
        if force or now - self._last >= self._interval:
            self._last = now
            self._emit(event)


__all__ = [
    "Damaged",
    "Emit",
    "Error",
    "Event",
    "FileOutcome",
    "Phase",
    "Progress",
    "Retry",
    "Summary",
    "Throttle",
    "Warning",
    "WarningLog",
    "asdict",
    "ignore",
]
