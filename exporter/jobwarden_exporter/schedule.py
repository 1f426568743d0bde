"""When a CronJob was due: its schedule, in its time zone, as UTC instants (pure; no clock).

The expression is evaluated by `cronsim` (the cron library healthchecks.io is built on);
this module only turns what a CronJob may say into what cronsim takes:

- `spec.timeZone` (an IANA name) is honoured; without it, a `CRON_TZ=<zone>` or
  `TZ=<zone>` prefix of `spec.schedule` (accepted by the API server, "not officially
  supported"); without either, UTC (the kube-controller-manager's local time zone, UTC in
  most clusters).
- The macros the controller accepts: `@yearly`/`@annually`, `@monthly`, `@weekly`,
  `@daily`/`@midnight`, `@hourly`. `@every <duration>` is not a schedule we can align
  with the controller's and is refused (the CronJob is then not checked for misses).
- Five fields only, as the API server requires.

Daylight saving time follows cronsim (Debian cron): a time that falls in a spring-forward
gap runs at the first minute after the gap; a time that repeats in a fall-back overlap
runs once, at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from cronsim import CronSim, CronSimError

from jobwarden.errors import PermanentError

#: The descriptors robfig/cron (the controller's parser) accepts, as five-field expressions.
MACROS: Final[dict[str, str]] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ZONE_PREFIXES: Final = ("CRON_TZ=", "TZ=")
#: How far back `latest` looks (cronsim gives up after 50 years either way).
_LOOKBACK: Final = dt.timedelta(days=366 * 5)


class ScheduleError(PermanentError):
    """A CronJob's schedule or time zone that cannot be evaluated (the message says why)."""


@dataclass(frozen=True)
class Schedule:
    """A CronJob's schedule, parsed: `expression` (five fields) evaluated in `zone`."""

    text: str  # as written in spec.schedule
    expression: str
    zone_name: str

    @classmethod
    def parse(cls, schedule: str, time_zone: str | None = None) -> Schedule:
        """Parse `spec.schedule` (and `spec.timeZone`); ScheduleError says what is wrong."""
        text = schedule.strip()
        zone_name = time_zone or ""
        rest = text
        for prefix in _ZONE_PREFIXES:
            if rest.startswith(prefix):
                head, _, rest = rest.partition(" ")
                zone_name = time_zone or head[len(prefix) :]
                rest = rest.strip()
                break
        expression = MACROS.get(rest.lower(), rest) if rest.startswith("@") else rest
        if expression.startswith("@"):
            raise ScheduleError(
                f"schedule {text!r}: {expression.split()[0]} is not a schedule jobwarden can "
                f"check (use five fields or one of {', '.join(MACROS)})"
            )
        if len(expression.split()) != 5:
            raise ScheduleError(
                f"schedule {text!r}: expected five fields (minute hour day month weekday)"
            )
        parsed = cls(text=text, expression=" ".join(expression.split()), zone_name=zone_name)
        zone = parsed.zone  # raises for an unknown zone
        try:
            CronSim(parsed.expression, dt.datetime(2000, 1, 1, tzinfo=zone))
        except CronSimError as err:
            raise ScheduleError(f"schedule {text!r}: {err}") from err
        return parsed

    @property
    def zone(self) -> dt.tzinfo:
        if not self.zone_name or self.zone_name in ("UTC", "Etc/UTC"):
            return dt.UTC
        try:
            return zoneinfo.ZoneInfo(self.zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ScheduleError(
                f"schedule {self.text!r}: unknown time zone {self.zone_name!r} "
                "(an IANA name such as Europe/Berlin)"
            ) from err

    def after(self, start: dt.datetime) -> Iterator[dt.datetime]:
        """The scheduled times strictly after `start` (aware), in order, as UTC instants."""
        for moment in CronSim(self.expression, start.astimezone(self.zone)):
            yield moment.astimezone(dt.UTC)

    def between(
        self, start: dt.datetime, end: dt.datetime, *, limit: int = 1000
    ) -> list[dt.datetime]:
        """The scheduled times in (`start`, `end`], at most the first `limit`."""
        found: list[dt.datetime] = []
        for moment in self.after(start):
            if moment > end or len(found) >= limit:
                break
            found.append(moment)
        return found

    def count_between(self, start: dt.datetime, end: dt.datetime, *, cap: int) -> int:
        """How many scheduled times fall in (`start`, `end`], counting up to `cap`."""
        return len(self.between(start, end, limit=cap))

    def latest(self, at: dt.datetime) -> dt.datetime | None:
        """The last scheduled time at or before `at`, or None within five years."""
        return self.previous(at + dt.timedelta(seconds=1))

    def previous(self, before: dt.datetime) -> dt.datetime | None:
        """The last scheduled time strictly before `before` (None within five years)."""
        floor = before - _LOOKBACK
        try:
            for moment in CronSim(self.expression, before.astimezone(self.zone), reverse=True):
                utc = moment.astimezone(dt.UTC)
                if utc < floor:
                    return None
                if utc < before:
                    return utc
        except StopIteration:  # pragma: no cover - cronsim ends iteration itself
            return None
        return None
