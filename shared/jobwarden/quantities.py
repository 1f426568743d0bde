"""Durations (`30m`, `24h`, `7d`) and memory quantities (`512Mi`, `1.5x`) as users write them.

Configuration keys, HTTP requests (`"duration": "7d"`) and the restart action all
accept these spellings; one parser for each keeps them agreeing. Every parser
raises `ConfigError` naming the text it could not read and the accepted forms.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from jobwarden.errors import ConfigError

#: One or more `<integer><unit>` parts, units s, m, h, d, w: `90s`, `24h`, `1h30m`, `2w`.
DURATION_PATTERN = r"^([0-9]+[smhdw])+$"
#: A Kubernetes memory quantity: `512Mi`, `8Gi`, `500M`, `1e9`, `1073741824`.
MEMORY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|[eE][0-9]+)?$"
#: A memory step: a factor above 1 (`1.5x`) or an increment (`256Mi`).
MEMORY_STEP_PATTERN = r"^([0-9]+(\.[0-9]+)?x|[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?)$"

_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_DURATION = timedelta(days=3660)
_SUFFIX = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_DURATION_HELP = "use whole numbers with a unit s, m, h, d or w (e.g. 30m, 24h, 1h30m, 7d, 2w)"
_MEMORY_HELP = "use a Kubernetes memory quantity (e.g. 512Mi, 8Gi, 500M)"


def _shown(text: object) -> str:
    """The offending text for a message, cut short so a payload never floods a log."""
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def parse_duration(text: str) -> timedelta:
    """`"24h"` -> `timedelta(hours=24)`; parts add up (`"1h30m"`). Zero is not a duration."""
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text.strip()):
        raise ConfigError(f"{_shown(text)} is not a duration: {_DURATION_HELP}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text.strip()))
    if seconds == 0:
        raise ConfigError(f"{_shown(text)} is not a duration: it must be longer than zero")
    if seconds > _MAX_DURATION.total_seconds():
        raise ConfigError(f"{_shown(text)} is too long a duration: at most 10 years (3660d)")
    return timedelta(seconds=seconds)


def parse_memory(text: str) -> int:
    """A Kubernetes memory quantity in bytes, rounded up: `"512Mi"` -> 536870912."""
    text = text.strip() if isinstance(text, str) else text
    if not isinstance(text, str) or not re.fullmatch(MEMORY_PATTERN, text):
        raise ConfigError(f"{_shown(text)} is not a memory quantity: {_MEMORY_HELP}")
    number = re.match(r"[0-9]+(\.[0-9]+)?", text)
    assert number is not None  # the pattern above guarantees a leading number
    suffix = text[number.end() :]
    try:
        value = Decimal(number.group())
        if suffix[:1] in ("e", "E"):
            value = value.scaleb(int(suffix[1:]))
        else:
            value *= _SUFFIX[suffix]
    except (InvalidOperation, ValueError, OverflowError) as err:
        raise ConfigError(f"{_shown(text)} is not a memory quantity: {_MEMORY_HELP}") from err
    if value <= 0 or value > 2**63:
        raise ConfigError(f"{_shown(text)} is out of range for a memory quantity")
    return math.ceil(value)


def format_memory(size: int) -> str:
    """Bytes as the shortest exact binary quantity: 805306368 -> `"768Mi"`."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        if size and size % _SUFFIX[suffix] == 0:
            return f"{size // _SUFFIX[suffix]}{suffix}"
    return str(size)


def next_memory_limit(current: int, step: str, cap: int) -> int:
    """The limit after one restart step (`1.5x` or `+256Mi`), rounded up to Mi, at most `cap`."""
    text = step.strip()
    if not re.fullmatch(MEMORY_STEP_PATTERN, text):
        raise ConfigError(
            f"{_shown(step)} is not a memory step: use a factor (1.5x) or {_MEMORY_HELP}"
        )
    if text.endswith("x"):
        factor = Decimal(text[:-1])
        if factor <= 1:
            raise ConfigError(f"{_shown(step)} is not a memory step: a factor must be above 1")
        grown = math.ceil(current * factor)
    else:
        grown = current + parse_memory(text)
    mebi = _SUFFIX["Mi"]
    return min(-(-grown // mebi) * mebi, cap)
