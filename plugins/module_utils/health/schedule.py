# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The longest time between two runs of a cron schedule, to derive how old a job's last success may be."""

from datetime import UTC, datetime, timedelta

NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
# Days enough to see every gap: two days for a daily pattern, two weeks when only weekdays are
# restricted, two years when days of the month or months are (29 February aside).
DAILY, WEEKLY, YEARLY = 2, 15, 2 * 366


def _field(text, low, high):
    values = set()
    for part in text.split(","):
        rng, _slash, step = part.partition("/")
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            start, end = (int(v) for v in rng.split("-", 1))
        else:
            start = int(rng)
            end = high if step else start
        if not low <= start <= end <= high:
            raise ValueError("field %r is out of range %d-%d" % (text, low, high))
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def parse(schedule):
    """'30 2 * * *' or '@daily' -> (minutes, hours, days, months, weekdays, and whether the day of the
    month, the weekday and the month fields are restricted)."""
    text = NICKNAMES.get(schedule.strip(), schedule.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ValueError("schedule %r is not five cron fields or an @nickname" % schedule)
    try:
        sets = [_field(f, low, high) for f, (low, high) in zip(fields, RANGES, strict=True)]
    except ValueError as exc:
        raise ValueError("schedule %r: %s" % (schedule, exc)) from None
    sets[4] = {d % 7 for d in sets[4]}
    return (*sets, fields[2] != "*", fields[4] != "*", fields[3] != "*")


def _runs_on(day, parsed):
    _minutes, _hours, days, months, weekdays, day_restricted, weekday_restricted, _months = parsed
    if day.month not in months:
        return False
    dom, dow = day.day in days, (day.weekday() + 1) % 7 in weekdays
    # cron(8): when both day fields are restricted, either one matching is enough.
    if day_restricted and weekday_restricted:
        return dom or dow
    return dom and dow


def max_interval(schedule, start=None):
    """Seconds of the longest gap between consecutive runs over two years from `start`."""
    parsed = parse(schedule)
    minutes, hours = sorted(parsed[0]), sorted(parsed[1])
    first = (start or datetime(2026, 1, 1, tzinfo=UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    day_restricted, weekday_restricted, month_restricted = parsed[5:]
    horizon = YEARLY if day_restricted or month_restricted else WEEKLY if weekday_restricted else DAILY
    previous, longest = None, 0.0
    for offset in range(horizon):
        day = first + timedelta(days=offset)
        if not _runs_on(day, parsed):
            continue
        for hour in hours:
            for minute in minutes:
                moment = day.replace(hour=hour, minute=minute)
                if previous is not None:
                    longest = max(longest, (moment - previous).total_seconds())
                previous = moment
    if previous is None:
        raise ValueError("schedule %r never runs" % schedule)
    return longest
