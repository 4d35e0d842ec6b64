"""The indicator rows of docs/indicators.md, computed independently in plain
Python from raw readings: the reference the C engine's `indicateurs` rows are
checked against.

Nothing here uses Vigie's code. Local days, months and years come from
zoneinfo; hourly windows are UTC hours; every rule below cites the section of
docs/indicators.md it implements ("spec, <section>").

    rows = indicator_rows(readings, ind, "Europe/Paris", sensor_period_s=180)

readings: iterable of (canonical series key, UTC Unix seconds, value), e.g.
('pm10{station="FR01"}', 1709510430, 51.0). ind: the config keys of one
indicator (a dict, as YAML would give it), `preset:` included.

One deliberate difference with the engine: `p95` here is the exact 95th
percentile of the readings (linear interpolation between the two closest
ranks, as DuckDB's quantile_cont), while the engine merges quantile sketches
with about 1 % relative error: compare p95 values with a relative tolerance
of 0.01.
"""
import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# ---- configuration: presets and defaults --------------------------------------

#: spec, "Presets: the EU ambient air quality directive": each preset's
#: definition, with the keys it leaves at their default written out.
PRESETS = {
    "eu-pm10-daily-exceedances": dict(
        over="1d", hours_min=18, coverage_min=0.75, statistic="exceedances",
        threshold=50, period="year", objective=dict(target=35, direction="at_most")),
    "eu-no2-hourly-exceedances": dict(
        over="1h", coverage_min=0.75, statistic="exceedances", threshold=200,
        period="year", objective=dict(target=18, direction="at_most")),
    "eu-no2-annual-mean": dict(
        over="1h", coverage_min=0.75, statistic="mean", period="year", capture_min=0.9,
        objective=dict(target=40, direction="at_most")),
    "eu-pm25-annual-mean": dict(
        over="1h", coverage_min=0.75, statistic="mean", period="year", capture_min=0.9,
        objective=dict(target=25, direction="at_most")),
    "eu-o3-8h-exceedances": dict(
        over="max8h", coverage_min=0.75, statistic="exceedances", threshold=120,
        period="year", objective=dict(target=25, direction="at_most")),
}

#: spec, "Declaring an indicator": the defaults of the keys that shape a value.
DEFAULTS = dict(of="mean", threshold=None, coverage_min=0.0, hours_min=0,
                capture_min=0.0, period="year", merge=False, where={}, objective=None)

#: the keys a preset sets and the city may not give beside it (spec, `preset`:
#: "it sets every key but dataset, metric, where, merge, id").
PRESET_ONLY = ("statistic", "over", "of", "threshold", "coverage_min", "hours_min",
               "capture_min", "period")

STATISTICS = ("mean", "sum", "min", "max", "p95", "count", "exceedances")
#: spec, "What a period's value is": the statistics a derived day allows.
DERIVED_DAY_STATISTICS = ("mean", "min", "max", "exceedances")


def expand_preset(ind):
    """ind with its `preset` replaced by the preset's keys (spec, table
    "Presets"). The city gives id, dataset, metric, where and merge; it may
    override the objective (its keys replace the preset's one by one), the
    titles and the units; any other key that shapes the value (statistic,
    over, of, threshold, coverage_min, hours_min, capture_min, period) beside
    a preset is a config error (ValueError). Without `preset`: a copy."""
    ind = dict(ind)
    name = ind.pop("preset", None)
    if name is None:
        return ind
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}")
    clash = [k for k in PRESET_ONLY if k in ind]
    if clash:
        raise ValueError(f"preset {name}: {', '.join(clash)} set by the preset")
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[name].items()}
    if "objective" in ind:
        out["objective"] = {**out["objective"], **ind.pop("objective")}
    out.update(ind)
    return out


def normalize(ind):
    """ind with its preset expanded and every default filled in, checked
    (ValueError on a combination the spec does not define)."""
    ind = {**DEFAULTS, **expand_preset(ind)}
    for k in ("id", "metric", "statistic", "over"):
        if k not in ind:
            raise ValueError(f"{k}: missing")
    if ind["statistic"] not in STATISTICS:
        raise ValueError(f"statistic: {ind['statistic']!r}")
    if ind["over"] not in ("1h", "1d", "max8h"):
        raise ValueError(f"over: {ind['over']!r}")
    if ind["of"] not in ("mean", "sum", "max", "min"):
        raise ValueError(f"of: {ind['of']!r}")
    if ind["period"] not in ("day", "month", "year"):
        raise ValueError(f"period: {ind['period']!r}")
    if ind["hours_min"] and ind["over"] != "1d":
        raise ValueError("hours_min: only with over: 1d")
    if ind["statistic"] == "exceedances" and ind["threshold"] is None:
        raise ValueError("threshold: needed by exceedances")
    if ind["statistic"] != "exceedances" and ind["threshold"] is not None:
        raise ValueError("threshold: only statistic exceedances uses it")
    if derived_days(ind) and ind["statistic"] not in DERIVED_DAY_STATISTICS:
        raise ValueError(f"statistic: {ind['statistic']} does not apply to derived days")
    obj = ind["objective"]
    if obj is not None and obj.get("direction") not in ("at_most", "at_least"):
        raise ValueError(f"objective: direction {obj.get('direction')!r}")
    return ind


def derived_days(ind):
    """spec, "Derived days": with hours_min or over: max8h a window is a
    local day computed from the hourly windows, not a stored window."""
    return ind["over"] == "max8h" or (ind["over"] == "1d" and ind["hours_min"] > 0)


# ---- series keys ------------------------------------------------------------

def parse_series_key(key):
    """'pm10{station="a",x="b\\"c"}' -> ('pm10', {'station': 'a', 'x': 'b"c'});
    a key without tags is the bare metric. Escapes as the canonical key
    writes them: \\\\, \\" and \\n."""
    brace = key.find("{")
    if brace < 0:
        return key, {}
    metric, tags, i, n = key[:brace], {}, brace + 1, len(key)
    while i < n and key[i] != "}":
        eq = key.index("=", i)
        name, i, value = key[i:eq], eq + 2, []  # skip ="
        while key[i] != '"':
            if key[i] == "\\":
                i += 1
                value.append("\n" if key[i] == "n" else key[i])
            else:
                value.append(key[i])
            i += 1
        tags[name] = "".join(value)
        i += 1
        if i < n and key[i] == ",":
            i += 1
    return metric, tags


def _escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def merged_label(metric, where):
    """spec, "Rows", column `series`: for merge: true, the metric and its
    filter (tags sorted by name) followed by `*`: pm10{*},
    pm10{district="nord",*}."""
    tags = "".join(f'{k}="{_escape(str(where[k]))}",' for k in sorted(where))
    return f"{metric}{{{tags}*}}"


# ---- windows --------------------------------------------------------------------

class Acc:
    """A window's readings (all kept: the oracle favours evident correctness
    over memory): count, exact sum, min, max, and the `of` value."""
    __slots__ = ("values",)

    def __init__(self):
        self.values = []

    @property
    def count(self):
        return len(self.values)

    @property
    def sum(self):
        return math.fsum(self.values)

    @property
    def mean(self):
        return self.sum / self.count

    @property
    def min(self):
        return min(self.values)

    @property
    def max(self):
        return max(self.values)

    def of(self, what):
        """The window value `of` takes: mean, sum, max or min."""
        return getattr(self, what)


class Window:
    """One window of `over` (a stored hourly or daily window, or a derived
    day): its UTC bounds, the local date of its start (which period it
    belongs to), whether it is valid, its value (`of` for a stored window,
    the day value for a derived day) and, for a stored window, its readings."""
    __slots__ = ("start", "end", "local_date", "valid", "value", "acc")

    def __init__(self, start, end, local_date, valid, value, acc=None):
        self.start, self.end, self.local_date = start, end, local_date
        self.valid, self.value, self.acc = valid, value, acc


def local_midnight(d, tz):
    """The UTC Unix seconds of the start of local date d."""
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def day_hours(d, tz):
    """UTC starts of the hourly windows that start in local day d: 24, or 23
    on a spring-forward day and 25 on the fall-back day (spec, "What a
    period's value is": "a local day holds the hourly windows that start in
    it")."""
    start, end = local_midnight(d, tz), local_midnight(d + timedelta(days=1), tz)
    first = math.ceil(start / 3600) * 3600
    return list(range(int(first), int(end), 3600))


def coverage_of(acc, start, end, sensor_period_s):
    """A window's coverage: count / ((end - start) / sensor_period), not
    capped (a merged window of two sensors may reach 2); None without a
    sensor period."""
    if sensor_period_s is None:
        return None
    return acc.count / ((end - start) / sensor_period_s)


def is_valid(acc, start, end, ind, sensor_period_s):
    """spec, "What a period's value is": a window is valid when it has a
    reading and its coverage reaches coverage_min; without sensor_period
    every window with a reading is (spec, "Presets", last paragraph)."""
    if acc is None or acc.count == 0:
        return False
    cov = coverage_of(acc, start, end, sensor_period_s)
    return cov is None or cov >= ind["coverage_min"]


def hourly_windows(hours, ind, tz, sp):
    """The stored hourly windows (UTC hours) of one series: {start: Window}."""
    out = {}
    for h, acc in hours.items():
        local_date = datetime.fromtimestamp(h, tz).date()
        valid = is_valid(acc, h, h + 3600, ind, sp)
        out[h] = Window(h, h + 3600, local_date, valid, acc.of(ind["of"]), acc)
    return out


def daily_windows(days, ind, tz, sp):
    """The stored daily windows (local days; 23, 24 or 25 hours long, which
    their coverage divides by): [Window]."""
    out = []
    for d, acc in days.items():
        start, end = local_midnight(d, tz), local_midnight(d + timedelta(days=1), tz)
        out.append(Window(start, end, d, is_valid(acc, start, end, ind, sp),
                          acc.of(ind["of"]), acc))
    return out


def hours_min_days(hw, ind, tz):
    """spec, "Derived days", over: 1d with hours_min: N: the day's value is
    the mean of its valid hourly windows' values (`of`), each hour counting
    once whatever its number of readings; the day is valid with at least N
    valid hours (N as given, also on 23- and 25-hour days). A derived day
    exists when one of its own hours has a reading."""
    out = []
    for d in sorted({w.local_date for w in hw.values()}):
        hours = day_hours(d, tz)
        vals = [hw[h].value for h in hours if h in hw and hw[h].valid]
        valid = len(vals) >= ind["hours_min"]
        value = math.fsum(vals) / len(vals) if vals else None
        out.append(Window(hours[0], hours[-1] + 3600, d, valid, value))
    return out


def max8h_days(hw, ind, tz):
    """spec, "Derived days", over: max8h (Directive 2008/50/EC Annex VII,
    B note (2) and A.2): for each hour h of the local day, the 8-hour running
    mean ending with h covers the 8 consecutive hourly windows starting at
    h-7h .. h (real hours: across a DST change too); it is valid with at
    least 6 valid hours, and its value is the mean of the valid hours' values
    (`of`). The first 8-hour mean of a day thus reads 17:00..24:00 of the day
    before. The day's value is the largest valid 8-hour mean; the day is
    valid with at least ceil(3/4 * hours of the day) valid means: 18 of 24,
    18 of 23, 19 of 25. A derived day exists when one of its own hours has a
    reading."""
    out = []
    for d in sorted({w.local_date for w in hw.values()}):
        hours = day_hours(d, tz)
        means = []
        for h in hours:
            vals = [hw[s].value for s in range(h - 7 * 3600, h + 3600, 3600)
                    if s in hw and hw[s].valid]
            if len(vals) >= 6:
                means.append(math.fsum(vals) / len(vals))
        needed = (3 * len(hours) + 3) // 4  # ceil(0.75 * hours), in integers
        out.append(Window(hours[0], hours[-1] + 3600, d, len(means) >= needed,
                          max(means) if means else None))
    return out


# ---- periods ------------------------------------------------------------------------

def period_key(d, period):
    """The first local date of the period (day, month, year) holding d."""
    if period == "day":
        return d
    if period == "month":
        return d.replace(day=1)
    return d.replace(month=1, day=1)


def period_next(p, period):
    """The first local date of the period after the one starting at p."""
    if period == "day":
        return p + timedelta(days=1)
    if period == "month":
        return date(p.year + (p.month == 12), p.month % 12 + 1, 1)
    return date(p.year + 1, 1, 1)


def year_before(p):
    """spec, "Rows", `previous_value`: the period starting one year earlier
    in the local calendar; Feb 29 -> Feb 28."""
    if p.month == 2 and p.day == 29:
        return date(p.year - 1, 2, 28)
    return p.replace(year=p.year - 1)


def windows_in_period(p, period, over, tz):
    """spec, "Rows", `coverage`: how many windows of `over` the whole
    period has: its hours (UTC hours starting in it) for 1h, its local days
    otherwise."""
    q = period_next(p, period)
    if over == "1h":
        start, end = local_midnight(p, tz), local_midnight(q, tz)
        return math.ceil(end / 3600) - math.ceil(start / 3600)
    return (q - p).days


def quantile_cont(values, q):
    """The exact q-quantile of values, linear interpolation between the two
    closest ranks (DuckDB's quantile_cont, numpy's default)."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


def quantile_ranks(values, q):
    """The two readings around the q-quantile's rank: what a rank-based
    sketch may answer (within its relative accuracy) where quantile_cont
    interpolates between them."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    return xs[math.floor(pos)], xs[math.ceil(pos)]


def statistic(ind, valid):
    """spec, "What a period's value is": the value of a period from its
    valid windows (at least one)."""
    s = ind["statistic"]
    if s == "exceedances":  # windows whose value is strictly above threshold
        return sum(1 for w in valid if w.value > ind["threshold"])
    if s == "mean":  # each valid window counts once
        return math.fsum(w.value for w in valid) / len(valid)
    if derived_days(ind):  # min, max of the day values
        return (min if s == "min" else max)(w.value for w in valid)
    # stored windows: their accumulators merged
    if s == "sum":
        return math.fsum(v for w in valid for v in w.acc.values)
    if s == "count":
        return sum(w.acc.count for w in valid)
    if s == "min":
        return min(w.acc.min for w in valid)
    if s == "max":
        return max(w.acc.max for w in valid)
    return quantile_cont([v for w in valid for v in w.acc.values], 0.95)  # p95


# ---- rows ------------------------------------------------------------------------------

def select(readings, ind, tz):
    """The readings of the indicator's series (metric and `where`), grouped
    by the row's series label (the canonical key, or the merged label with
    merge: true: spec, `merge`) into hourly windows {UTC hour start: Acc}
    and daily windows {local date: Acc}."""
    where = {k: str(v) for k, v in (ind["where"] or {}).items()}
    merged = merged_label(ind["metric"], where) if ind["merge"] else None
    label_of, hours, days = {}, {}, {}
    for key, t, v in readings:
        if key not in label_of:
            metric, tags = parse_series_key(key)
            ok = metric == ind["metric"] and all(tags.get(k) == w for k, w in where.items())
            label_of[key] = (merged or key) if ok else None
        label = label_of[key]
        if label is None:
            continue
        h = math.floor(t / 3600) * 3600
        hours.setdefault(label, {}).setdefault(h, Acc()).values.append(float(v))
        if ind["over"] == "1d" and not ind["hours_min"]:
            d = datetime.fromtimestamp(t, tz).date()
            days.setdefault(label, {}).setdefault(d, Acc()).values.append(float(v))
    return hours, days


def series_windows(hours, days, ind, tz, sp):
    """Every window of `over` of one series, final or not."""
    if ind["over"] == "1d" and not ind["hours_min"]:
        return daily_windows(days, ind, tz, sp)
    hw = hourly_windows(hours, ind, tz, sp)
    if ind["over"] == "1h":
        return list(hw.values())
    if ind["over"] == "max8h":
        return max8h_days(hw, ind, tz)
    return hours_min_days(hw, ind, tz)


def indicator_rows(readings, ind, tz_name, sensor_period_s=None, watermark_utc=None,
                   lateness_s=7200):
    """The rows of the dataset `indicateurs` for one indicator (spec,
    "Rows: the dataset `indicateurs`"), sorted by series then period:
    dicts with indicator, series, period_start and period_end (aware
    datetimes in tz_name; for a duration subtract their .timestamp(), as
    Python subtracts datetimes of one zone on the wall clock), value (None
    when empty), coverage, status, previous_value, target and attained.

    watermark_utc None: every window and every period is final. Otherwise a
    window is final when watermark_utc > its end + lateness_s, and a period
    when watermark_utc > its end + lateness_s (spec, `status`). Only final
    windows are read; a period has a row once one of its windows is final
    (spec: "A period's row appears with its first final window"), whether
    that window is valid or not.

    value: the statistic of the period's valid final windows; None when none
    is valid, and for a final period whose coverage is under capture_min
    (spec, "What a period's value is" and `capture_min`). coverage: valid
    final windows / all windows of the period, so it grows while the period
    runs. previous_value: the value of the same series' row for the period
    starting a year earlier (None without such a row). target and attained:
    from the objective (None without one; attained None without a value).
    """
    ind = normalize(ind)
    tz = ZoneInfo(tz_name)
    period = ind["period"]

    def final(end):
        return watermark_utc is None or watermark_utc > end + lateness_s

    hours, days = select(readings, ind, tz)
    by_key = {}
    for label in sorted(set(hours) | set(days)):
        periods = {}
        for w in series_windows(hours.get(label, {}), days.get(label, {}), ind, tz,
                                sensor_period_s):
            if final(w.end):
                periods.setdefault(period_key(w.local_date, period), []).append(w)
        for p, ws in periods.items():
            q = period_next(p, period)
            start, end = (datetime(x.year, x.month, x.day, tzinfo=tz) for x in (p, q))
            valid = [w for w in ws if w.valid]
            coverage = len(valid) / windows_in_period(p, period, ind["over"], tz)
            status = "final" if final(end.timestamp()) else "provisional"
            value = statistic(ind, valid) if valid else None
            ranks = (quantile_ranks([v for w in valid for v in w.acc.values], 0.95)
                     if valid and ind["statistic"] == "p95" else None)
            if status == "final" and coverage < ind["capture_min"]:
                value = None
            by_key[(label, p)] = dict(indicator=ind["id"], series=label, period_start=start,
                                      period_end=end, value=value, coverage=coverage,
                                      status=status)
            if ranks:
                by_key[(label, p)]["p95_ranks"] = ranks
    obj = ind["objective"]
    rows = []
    for (label, p), row in sorted(by_key.items()):
        before = by_key.get((label, year_before(p)))
        row["previous_value"] = before["value"] if before else None
        row["target"] = obj["target"] if obj else None
        if obj is None or row["value"] is None:
            row["attained"] = None
        elif obj["direction"] == "at_most":
            row["attained"] = row["value"] <= obj["target"]
        else:
            row["attained"] = row["value"] >= obj["target"]
        rows.append(row)
    return rows


def format_rows(rows):
    """rows as a plain-text table (for printing with pytest -s)."""
    head = ("indicator", "series", "period_start", "value", "coverage", "status",
            "previous", "target", "attained")
    lines = []
    for r in rows:
        v = "" if r["value"] is None else f"{r['value']:.6g}"
        pv = "" if r["previous_value"] is None else f"{r['previous_value']:.6g}"
        lines.append((r["indicator"], r["series"], r["period_start"].isoformat(), v,
                      f"{r['coverage']:.4f}", r["status"], pv,
                      "" if r["target"] is None else f"{r['target']:g}",
                      "" if r["attained"] is None else str(r["attained"]).lower()))
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    return "\n".join(" | ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip()
                     for line in [head, *lines])
