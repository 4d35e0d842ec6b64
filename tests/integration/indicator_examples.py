"""Hand-computed examples of indicators (docs/indicators.md), above all of
the EU presets, written from Directive 2008/50/EC itself:

- Annex XI A (criteria for checking validity): a one-hour value needs 75 % of
  the hour (45 minutes); a 24-hour value 75 % of the hourly averages (at
  least 18 hourly values); an annual mean 90 % of the one-hour values;
- Annex XI B: PM10 50 ug/m3 over one day, not to be exceeded more than 35
  times a calendar year; NO2 200 ug/m3 over one hour, not more than 18 times;
  NO2 40 ug/m3 and PM2.5 25 ug/m3 over the calendar year;
- Annex VII A.2 and B note (2): ozone's maximum daily 8-hour mean, from
  8-hour running means assigned to the day they end (the first of a day
  runs 17:00 the day before to 01:00, the last 16:00 to 24:00), each valid
  with 6 of its 8 hours, the day valid with 18 valid means; target 120
  ug/m3 not to be exceeded on more than 25 days.

"Exceeds" is strictly above. Every expected value below was derived by hand,
in the comments beside it, never by running the oracle: the examples check
the oracle (test_indicator_oracle.py) and the C engine alike.

EXAMPLES is a list of dicts:
    name, about      an id and one line
    tz               the store's time zone
    sensor_period_s  the dataset's sensor_period (None: no coverage)
    watermark_utc    None: everything final; else Unix seconds (a window is
                     final once the watermark is strictly past its end +
                     lateness, as the engine's windows are)
    lateness_s       the windows' lateness
    ind              the indicator's config keys
    readings         [(canonical series key, UTC Unix seconds, value)]
    expected         the rows, sorted by series then period_start:
                     series, period_start (ISO 8601 with offset), value,
                     coverage, status, previous_value, target, attained
    engine_rel_tol   the relative tolerance of the engine's values (p95
                     comes from a sketch), beside 1e-9 for the oracle's

Readings are laid hour by hour: an hour given as (v, n) holds n readings of
value v, at minute 0:30, 3:30, 6:30... of the hour (one per sensor period of
180 s when SP is the sensor period, so a full hour holds 20 readings, 15 of
them make coverage 0.75 exactly and 14 make 0.7); an hour given as a list
holds those readings in that order; None holds nothing.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = "Europe/Paris"
SP = 180  # 20 readings a full hour; 15 -> coverage 15/20 = 0.75; 14 -> 0.7


def utc(local_iso, tz=PARIS):
    """'2024-03-05T00:00' in tz -> UTC Unix seconds (not a DST-ambiguous time)."""
    return int(datetime.fromisoformat(local_iso).replace(tzinfo=ZoneInfo(tz)).timestamp())


def local_day_hours(day, tz=PARIS):
    """UTC starts of the hours of local day `day` ('YYYY-MM-DD'), in order:
    24, or 23 / 25 across a DST change."""
    d = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(tz))
    start, end = int(d.timestamp()), int((d + timedelta(days=1)).timestamp())
    return list(range(start, end, 3600))


def hour(series, start, spec, period=SP):
    """The readings of one hour starting at UTC `start` (spec: module doc)."""
    if spec is None:
        return []
    values = [spec[0]] * spec[1] if isinstance(spec, tuple) else list(spec)
    assert len(values) * period <= 3600
    return [(series, start + 30 + k * period, float(v)) for k, v in enumerate(values)]


def day(series, iso_day, specs, n_hours=24, tz=PARIS):
    """The readings of a local day: specs is a list with one entry per hour
    of the day, in order (n_hours of them: 23 or 25 on DST days), or a dict
    {hour index: entry} (index 0 = the first hour after local midnight)."""
    hours = local_day_hours(iso_day, tz)
    assert len(hours) == n_hours, (iso_day, len(hours))
    if isinstance(specs, list):
        assert len(specs) == n_hours
        specs = dict(enumerate(specs))
    out = []
    for i, spec in specs.items():
        out += hour(series, hours[i], spec)
    return out


def hourly_run(series, first_local, n, values, tz=PARIS):
    """n consecutive UTC hours from local time first_local, one reading each
    at minute 30 (for a sensor period of 3600 s); values(i) is the i-th."""
    t0 = utc(first_local, tz)
    return [(series, t0 + 3600 * i + 1800, float(values(i))) for i in range(n)]


def row(series, period_start, value, coverage, status="final", previous_value=None,
        target=None, attained=None):
    return dict(series=series, period_start=period_start, value=value, coverage=coverage,
                status=status, previous_value=previous_value, target=target,
                attained=attained)


def example(name, about, ind, readings, expected, sensor_period_s=SP, watermark_utc=None,
            lateness_s=7200, tz=PARIS, engine_rel_tol=1e-9):
    return dict(name=name, about=about, tz=tz, sensor_period_s=sensor_period_s,
                watermark_utc=watermark_utc, lateness_s=lateness_s, ind=ind,
                readings=readings, expected=expected, engine_rel_tol=engine_rel_tol)


EXAMPLES = []

# ---- PM10: days above 50 (eu-pm10-daily-exceedances) -------------------------------
# Europe/Paris, 2024 (366 days). A day's value is the mean of its valid hours
# (each hour valid at coverage 0.75 = 15 of 20 readings), each hour counting
# once; the day is valid with >= 18 valid hours; it counts when above 50.

PM10_A, PM10_B = 'pm10{station="FR01"}', 'pm10{station="FR04"}'
PM10 = (
    # 03-04: 18 valid hours at 51 and 6 hours of 14 readings (0.7, invalid) at 0.
    #   day = 18*51/18 = 51 > 50: counts. (Counting the 0.7 hours: 918/24 =
    #   38.25; the mean of all readings: 18*20*51 / (360+84) = 41.35.)
    day(PM10_A, "2024-03-04", [(51, 20)] * 18 + [(0, 14)] * 6)
    # 03-05: 17 valid hours at 80 + 7 hours at 0.7 -> 17 < 18: day invalid.
    + day(PM10_A, "2024-03-05", [(80, 20)] * 17 + [(80, 14)] * 7)
    # 03-06: 24 valid hours 40, 60, 40, 60... -> 1200/24 = 50, not above 50: valid, 0.
    + day(PM10_A, "2024-03-06", [(40, 20), (60, 20)] * 12)
    # 03-07: 12 hours of 20 readings at 40, 12 hours of 15 readings (0.75:
    #   valid) at 61 -> (12*40 + 12*61)/24 = 1212/24 = 50.5 > 50: counts. (The
    #   mean of the readings, (240*40 + 180*61)/420 = 49.0, would not.)
    + day(PM10_A, "2024-03-07", [(40, 20)] * 12 + [(61, 15)] * 12)
    # 03-31, spring forward: 23 hours (23:00Z on the 30th .. 21:00Z), all at
    #   52 -> 52 > 50: counts. 04-01 00:00 and 01:00 local (22:00Z, 23:00Z on
    #   the 31st) at 0: that day has 2 valid hours, invalid. (A UTC day
    #   03-31 would average 22 hours at 52 and 2 at 0: 47.67.)
    + day(PM10_A, "2024-03-31", [(52, 20)] * 23, n_hours=23)
    + day(PM10_A, "2024-04-01", {0: (0, 20), 1: (0, 20)})
    # 10-27, fall back: 25 hours at 50 but the second 02:00 (01:00Z, index 3)
    #   at 51 -> (24*50 + 51)/25 = 1251/25 = 50.04 > 50: counts.
    + day(PM10_A, "2024-10-27", [(50, 20)] * 3 + [(51, 20)] + [(50, 20)] * 21, n_hours=25)
    # Station FR04, 10-27: 18 valid hours at 55 and 7 at 0.7 -> hours_min is
    #   18 on a 25-hour day too (the spec's reading; 75 % of 25 would be 19):
    #   valid, 55 > 50, counts.
    + day(PM10_B, "2024-10-27", [(55, 20)] * 18 + [(55, 14)] * 7, n_hours=25)
)
PM10_DAY = dict(id="pm10-day", metric="pm10", over="1d", hours_min=18, coverage_min=0.75,
                statistic="exceedances", threshold=50, period="day")

EXAMPLES += [
    example(
        "pm10-preset-year", "eu-pm10-daily-exceedances over a few 2024 days, DST days included",
        dict(id="pm10-jours", preset="eu-pm10-daily-exceedances", metric="pm10"), PM10,
        # FR01: above 50 on 03-04, 03-07, 03-31, 10-27 = 4; valid days 03-04,
        # 03-06, 03-07, 03-31, 10-27 = 5 of 366. FR04: 1 of 1 valid day.
        # at most 35: both met.
        [row(PM10_A, "2024-01-01T00:00:00+01:00", 4, 5 / 366, target=35, attained=True),
         row(PM10_B, "2024-01-01T00:00:00+01:00", 1, 1 / 366, target=35, attained=True)]),
    example(
        "pm10-definition-by-day", "the same definition per day: which days count",
        PM10_DAY, PM10,
        # a valid day: coverage 1/1, value 1 or 0; an invalid one: 0/1, empty
        [row(PM10_A, "2024-03-04T00:00:00+01:00", 1, 1.0),
         row(PM10_A, "2024-03-05T00:00:00+01:00", None, 0.0),
         row(PM10_A, "2024-03-06T00:00:00+01:00", 0, 1.0),
         row(PM10_A, "2024-03-07T00:00:00+01:00", 1, 1.0),
         row(PM10_A, "2024-03-31T00:00:00+01:00", 1, 1.0),
         row(PM10_A, "2024-04-01T00:00:00+02:00", None, 0.0),
         row(PM10_A, "2024-10-27T00:00:00+02:00", 1, 1.0),
         row(PM10_B, "2024-10-27T00:00:00+02:00", 1, 1.0)]),
    example(
        "pm10-mean-of-days", "the mean of the valid days' 24-hour values",
        {**{k: v for k, v in PM10_DAY.items() if k != "threshold"}, "id": "pm10-moyenne",
         "statistic": "mean", "period": "year"}, PM10,
        # FR01: (51 + 50 + 50.5 + 52 + 50.04) / 5 = 253.54 / 5 = 50.708; FR04: 55
        [row(PM10_A, "2024-01-01T00:00:00+01:00", 50.708, 5 / 366),
         row(PM10_B, "2024-01-01T00:00:00+01:00", 55.0, 1 / 366)]),
    example(
        "pm10-preset-provisional", "derived days are read once final: the watermark "
        "has passed 2024-03-05 00:00 local by the lateness (2 h)",
        dict(id="pm10-jours", preset="eu-pm10-daily-exceedances", metric="pm10"), PM10,
        # final days: 03-04 only (it ends 03-05 00:00 local = 03-04T23:00Z);
        # FR04 has no final day yet: no row. 1 valid day of 366; the year runs.
        [row(PM10_A, "2024-01-01T00:00:00+01:00", 1, 1 / 366, status="provisional",
             target=35, attained=True)],
        watermark_utc=utc("2024-03-05T00:00") + 7201),
]

# ---- NO2: hours above 200 (eu-no2-hourly-exceedances) ------------------------------
NO2_H = 'no2{station="FR02"}'
NO2_HOURS = (
    day(NO2_H, "2024-01-15", {
        8: (201, 20),          # 201 > 200: counts
        9: (200, 20),          # exactly 200: does not
        10: [150, 251] * 10,   # mean (10*150 + 10*251)/20 = 200.5: counts (max 251)
        11: (300, 14),         # coverage 14/20 = 0.7: invalid
        12: (300, 15),         # coverage 15/20 = 0.75: valid, counts
        13: [100] * 19 + [900],  # mean (1900 + 900)/20 = 140: does not (max 900)
    })
    # 10-27, fall back: 02:00 CEST (00:00Z, index 2) and 02:00 CET (01:00Z,
    # index 3) are two hours, both at 210: 2 more.
    + day(NO2_H, "2024-10-27", {2: (210, 20), 3: (210, 20)}, n_hours=25)
)
NO2_PRESET = dict(id="no2-heures", preset="eu-no2-hourly-exceedances", metric="no2")
NO2_HOURLY = dict(id="no2-h", metric="no2", over="1h", coverage_min=0.75,
                  statistic="exceedances", threshold=200)

EXAMPLES += [
    example(
        "no2-preset-year", "eu-no2-hourly-exceedances: strictly above 200, hours valid at 0.75",
        NO2_PRESET, NO2_HOURS,
        # 201, 200.5, 300 (0.75), 210, 210 = 5 hours; valid hours 08, 09, 10,
        # 12, 13 on 01-15 and the 2 on 10-27 = 7 of 8784 (366 * 24); <= 18: met
        [row(NO2_H, "2024-01-01T00:00:00+01:00", 5, 7 / 8784, target=18, attained=True)]),
    example(
        "no2-definition-by-day", "per day: a 25-hour day has 25 hours",
        dict(NO2_HOURLY, period="day"), NO2_HOURS,
        # 01-15: 201, 200.5, 300 = 3; 5 valid hours of 24.
        # 10-27: 2; 2 valid hours of 25.
        [row(NO2_H, "2024-01-15T00:00:00+01:00", 3, 5 / 24),
         row(NO2_H, "2024-10-27T00:00:00+02:00", 2, 2 / 25)]),
    example(
        "no2-of-max", "exceedances of the hourly maximum (of: max)",
        dict(NO2_HOURLY, of="max"), NO2_HOURS,
        # maxima: 201 yes, 200 no, 251 yes, (11: invalid), 300 yes, 900 yes,
        # 210 yes, 210 yes = 6; 7 valid hours of 8784
        [row(NO2_H, "2024-01-01T00:00:00+01:00", 6, 7 / 8784)]),
    example(
        "no2-preset-without-sensor-period", "without sensor_period every hour with a "
        "reading is valid", NO2_PRESET, NO2_HOURS,
        # hour 11 (14 readings at 300) now valid and above: 6; 8 valid hours
        [row(NO2_H, "2024-01-01T00:00:00+01:00", 6, 8 / 8784, target=18, attained=True)],
        sensor_period_s=None),
]

# ---- NO2 and PM2.5 annual means: 90 % of the hours (capture_min 0.9) --------------
# One reading an hour (sensor period 3600 s: each hour has coverage 1).
NO2_Y1, NO2_Y2 = 'no2{station="FR03"}', 'no2{station="FR05"}'
NO2_YEAR = (
    # 2023 has 8760 hours; 90 % = 7884. FR03: 7884 hours from 2023-01-01
    # 00:00 local, the first 3942 at 30 and the next 3942 at 50:
    # mean (3942*30 + 3942*50)/7884 = 40, coverage 7884/8760 = 0.9: published,
    # 40 <= 40: met.
    hourly_run(NO2_Y1, "2023-01-01T00:00", 7884, lambda i: 30 if i < 3942 else 50)
    # FR05: one hour fewer, 7883/8760 = 0.89989 < 0.9: value empty, attained too.
    + hourly_run(NO2_Y2, "2023-01-01T00:00", 7883, lambda i: 30 if i < 3942 else 50)
)
PM25_Y = 'pm25{station="FR06"}'
# 240 hours from 2024-01-01 00:00 local: the first 96 (Jan 1-4) at 20, then 60.
PM25_YEAR = hourly_run(PM25_Y, "2024-01-01T00:00", 240, lambda i: 20 if i < 96 else 60)

EXAMPLES += [
    example(
        "no2-annual-mean-capture", "eu-no2-annual-mean: 90 % of 8760 hours exactly passes, "
        "one hour fewer fails", dict(id="no2-an", preset="eu-no2-annual-mean", metric="no2"),
        NO2_YEAR,
        [row(NO2_Y1, "2023-01-01T00:00:00+01:00", 40.0, 7884 / 8760, target=40,
             attained=True),
         row(NO2_Y2, "2023-01-01T00:00:00+01:00", None, 7883 / 8760, target=40)],
        sensor_period_s=3600),
    example(
        "pm25-annual-mean-provisional", "capture_min applies to final periods only",
        dict(id="pm25-an", preset="eu-pm25-annual-mean", metric="pm25"), PM25_YEAR,
        # watermark 2024-01-05 00:00 local + 2 h: the final hours end by
        # 2024-01-05 00:00 local: 96 hours, all at 20. Mean 20, coverage
        # 96/8784, the year is provisional: published; 20 <= 25: met.
        [row(PM25_Y, "2024-01-01T00:00:00+01:00", 20.0, 96 / 8784, status="provisional",
             target=25, attained=True)],
        sensor_period_s=3600, watermark_utc=utc("2024-01-05T00:00") + 7201),
    example(
        "pm25-annual-mean-final", "the same year final: 240/8784 < 0.9, value empty",
        dict(id="pm25-an", preset="eu-pm25-annual-mean", metric="pm25"), PM25_YEAR,
        [row(PM25_Y, "2024-01-01T00:00:00+01:00", None, 240 / 8784, target=25)],
        sensor_period_s=3600),
]

# ---- O3: days whose maximum daily 8-hour mean exceeds 120 (eu-o3-8h-exceedances) ---
# Mean "ending h" = the mean over the hours starting h-7 .. h; valid with
# >= 6 valid hours (valid = coverage >= 0.75: 15 of 20 readings). A day is
# valid with ceil(3/4 of its hours) valid means: 18 of 24, 18 of 23, 19 of 25.
O3 = 'o3{station="FR07"}'
O3_READINGS = (
    # A 07-08: only 17:00..23:00 at 136. Valid means: ending 22 (hours
    #   15..22: 6 valid) and 23 (7 valid) = 2 < 18: invalid.
    day(O3, "2024-07-08", {h: (136, 20) for h in range(17, 24)})
    # B 07-09: 00:00 at 136, 01:00..23:00 at 100. The mean ending 00 covers
    #   07-08 17:00..23:00 and 07-09 00:00: 8 hours at 136 = 136; ending 01:
    #   (7*136 + 100)/8 = 131.5; ending 02: (6*136 + 2*100)/8 = 127; ending 03:
    #   122.5; ending 04: 118, ... from ending 08 on: 100. All 24 valid; max
    #   136 > 120: counts. (Without the previous evening the first valid mean
    #   would end 05, over 00..05 only: (136 + 5*100)/6 = 106, no exceedance.)
    + day(O3, "2024-07-09", [(136, 20)] + [(100, 20)] * 23)
    # C 07-10: 00:00..14:00 at 150 (valid), 15:00..23:00 at 150 with 14
    #   readings (0.7, invalid). Means ending 00..14: 8 valid hours; ending 15:
    #   7 (08..14); ending 16: 6 (09..14); ending 17: 5 -> invalid. 17 valid
    #   means < 18: invalid, although they reach 150.
    + day(O3, "2024-07-10", [(150, 20)] * 15 + [(150, 14)] * 9)
    # D 07-11: 100 but 08:00..15:00 = 110, 130, 110, 130, 110, 130, 110, 130.
    #   07-10 17:00..23:00 are invalid, so the means ending 00..04 have 1..5
    #   valid hours: invalid; ending 05..23: 19 valid means, the day is valid.
    #   The largest is the one ending 15, over 08..15: 960/8 = 120 exactly
    #   (ending 16: (960 - 110 + 100)/8 = 118.75; ending 14: (960 - 130 + 100)/8
    #   = 116.25): not above 120.
    + day(O3, "2024-07-11", [(100, 20)] * 8
          + [(v, 20) for v in (110, 130, 110, 130, 110, 130, 110, 130)] + [(100, 20)] * 8)
    # E 07-12: 100 but 08:00..15:00 = 111, 130, 110, 130, 110, 130, 110, 133
    #   (sum 964). 07-11 17:00..23:00 are valid (100): 24 valid means; the
    #   largest ends 15: 964/8 = 120.5 > 120: counts (ending 16: 953/8 =
    #   119.125; ending 14: 931/8 = 116.375).
    + day(O3, "2024-07-12", [(100, 20)] * 8
          + [(v, 20) for v in (111, 130, 110, 130, 110, 130, 110, 133)] + [(100, 20)] * 8)
    # F 10-27, fall back, 25 hours: indexes 0..20 at 130, 21..24 missing, no
    #   previous evening. Means ending 5..20: valid (6..8 valid hours); ending
    #   21: 7 (14..20); 22: 6; 23: 5 -> invalid; 24: 4. 18 valid means < 19
    #   (3/4 of 25 = 18.75, rounded up): invalid, although 130 > 120.
    + day(O3, "2024-10-27", {i: (130, 20) for i in range(21)}, n_hours=25)
    # G 03-31, spring forward, 23 hours: indexes 0..19 at 121, 20..22
    #   missing. Means ending 5..19 valid, ending 20: 7 (13..19), 21: 6,
    #   22: 5 -> invalid. 17 valid means < 18 (3/4 of 23 = 17.25, rounded
    #   up): invalid.
    + day(O3, "2024-03-31", {i: (121, 20) for i in range(20)}, n_hours=23)
)

EXAMPLES += [
    example(
        "o3-preset-year", "eu-o3-8h-exceedances: previous evening, 17 valid means, 120 "
        "exactly, 120.5, DST days",
        dict(id="o3-jours", preset="eu-o3-8h-exceedances", metric="o3"), O3_READINGS,
        # valid days B, D, E = 3 of 366; above 120: B (136), E (120.5) = 2;
        # <= 25: met
        [row(O3, "2024-01-01T00:00:00+01:00", 2, 3 / 366, target=25, attained=True)]),
    example(
        "o3-max8h-by-day", "each day's maximum daily 8-hour mean (statistic max, period day)",
        dict(id="o3-max8h", metric="o3", over="max8h", coverage_min=0.75, statistic="max",
             period="day"), O3_READINGS,
        [row(O3, "2024-03-31T00:00:00+01:00", None, 0.0),   # G
         row(O3, "2024-07-08T00:00:00+02:00", None, 0.0),   # A
         row(O3, "2024-07-09T00:00:00+02:00", 136.0, 1.0),  # B
         row(O3, "2024-07-10T00:00:00+02:00", None, 0.0),   # C
         row(O3, "2024-07-11T00:00:00+02:00", 120.0, 1.0),  # D
         row(O3, "2024-07-12T00:00:00+02:00", 120.5, 1.0),  # E
         row(O3, "2024-10-27T00:00:00+02:00", None, 0.0)]),  # F
]

# ---- merge: series merged window by window ----------------------------------------
M_A, M_B = 'pm25{district="nord",station="A"}', 'pm25{district="nord",station="B"}'
M_C = 'pm25{district="sud",station="C"}'
MERGE = (
    # 2024-05-02 (CEST). A: 08:00 10 readings at 10, 09:00 20 at 10, 10:00 14 at 50.
    day(M_A, "2024-05-02", {8: (10, 10), 9: (10, 20), 10: (50, 14)})
    # B: 08:00 10 readings at 30, 09:00 20 at 30.
    + day(M_B, "2024-05-02", {8: (30, 10), 9: (30, 20)})
    # C (district sud): 08:00 20 readings at 1000.
    + day(M_C, "2024-05-02", {8: (1000, 20)})
)
# Merged nord hours: 08: 20 readings, coverage 20/20 = 1, mean (100 + 300)/20 = 20;
# 09: 40 readings, coverage 40/20 = 2 (not capped), mean 20; 10: 14 readings,
# 0.7: invalid. Alone, A and B have 10 readings at 08:00 (0.5, invalid).
MERGE_IND = dict(id="pm25-nord", metric="pm25", where={"district": "nord"}, merge=True,
                 over="1h", coverage_min=0.75, statistic="mean", period="day")
NORD, ALL = 'pm25{district="nord",*}', "pm25{*}"

EXAMPLES += [
    example("merge-mean", "merged hourly windows: their coverage adds up", MERGE_IND, MERGE,
            # (20 + 20)/2 = 20; 2 valid hours of 24
            [row(NORD, "2024-05-02T00:00:00+02:00", 20.0, 2 / 24)]),
    example("merge-max", "the largest reading of the valid merged hours",
            dict(MERGE_IND, statistic="max"), MERGE,
            # 30 (A's 50 lies in the invalid 10:00 hour; C's 1000 in district sud)
            [row(NORD, "2024-05-02T00:00:00+02:00", 30.0, 2 / 24)]),
    example("merge-count", "readings of the valid merged hours",
            dict(MERGE_IND, statistic="count"), MERGE,
            # 20 + 40 = 60
            [row(NORD, "2024-05-02T00:00:00+02:00", 60, 2 / 24)]),
    example("no-merge-mean", "the same without merge: one row per series",
            dict(MERGE_IND, merge=False), MERGE,
            # A: only 09:00 valid, 10; B: only 09:00, 30. C is not in nord.
            [row(M_A, "2024-05-02T00:00:00+02:00", 10.0, 1 / 24),
             row(M_B, "2024-05-02T00:00:00+02:00", 30.0, 1 / 24)]),
    example("merge-everything", "merge without where: the label pm25{*}",
            dict(MERGE_IND, where={}), MERGE,
            # 08: 40 readings, mean (100 + 300 + 20000)/40 = 510; 09: 20;
            # (510 + 20)/2 = 265; 2 valid hours of 24
            [row(ALL, "2024-05-02T00:00:00+02:00", 265.0, 2 / 24)]),
]

# ---- p95: the 95th percentile of the readings, not of the windows ---------------
P95 = 'noise{site="x"}'
P95_READINGS = day(P95, "2024-05-03", {8: list(range(1, 21)), 9: list(range(21, 41))})
EXAMPLES += [
    example("p95-of-readings", "p95 of the 40 readings 1..40 of two hours",
            dict(id="bruit-p95", metric="noise", over="1h", statistic="p95", period="day"),
            P95_READINGS,
            # rank 0.95 * (40 - 1) = 37.05 between the 38th and 39th values
            # (38, 39): 38 + 0.05 = 38.05. (The mean of the two hours' p95s
            # would be (19.05 + 39.05)/2 = 29.05.) The engine's sketch: 1 %.
            [row(P95, "2024-05-03T00:00:00+02:00", 38.05, 2 / 24)],
            sensor_period_s=None, engine_rel_tol=0.01),
]

# ---- previous_value and at_least ------------------------------------------------
PASS = 'passages{counter="c1"}'
PREV = [(PASS, utc(t), v) for t, v in (("2023-02-28T12:10", 7.0), ("2024-02-28T12:10", 3.0),
                                      ("2024-02-29T12:10", 5.0), ("2025-02-28T12:10", 11.0))]
PREV_IND = dict(id="passages", metric="passages", over="1h", statistic="sum", period="day",
                objective=dict(target=5, direction="at_least"))
EXAMPLES += [
    example("previous-value-by-day", "a year earlier: Feb 29 -> Feb 28; at_least",
            PREV_IND, PREV,
            # one hour of 24 each day; at least 5: 7 yes, 3 no, 5 yes, 11 yes
            [row(PASS, "2023-02-28T00:00:00+01:00", 7.0, 1 / 24, target=5, attained=True),
             row(PASS, "2024-02-28T00:00:00+01:00", 3.0, 1 / 24, previous_value=7.0,
                 target=5, attained=False),
             row(PASS, "2024-02-29T00:00:00+01:00", 5.0, 1 / 24, previous_value=7.0,
                 target=5, attained=True),
             row(PASS, "2025-02-28T00:00:00+01:00", 11.0, 1 / 24, previous_value=3.0,
                 target=5, attained=True)],
            sensor_period_s=None),
    example("previous-value-by-month", "months: February 2024 has 29 days",
            dict(PREV_IND, period="month"), PREV,
            # Feb 2023: 7, 1 hour of 28*24 = 672; Feb 2024: 3 + 5 = 8, 2 of
            # 29*24 = 696, previous 7; Feb 2025: 11, 1 of 672, previous 8
            [row(PASS, "2023-02-01T00:00:00+01:00", 7.0, 1 / 672, target=5, attained=True),
             row(PASS, "2024-02-01T00:00:00+01:00", 8.0, 2 / 696, previous_value=7.0,
                 target=5, attained=True),
             row(PASS, "2025-02-01T00:00:00+01:00", 11.0, 1 / 672, previous_value=8.0,
                 target=5, attained=True)],
            sensor_period_s=None),
]

# ---- stored daily windows: their coverage divides by the day's real length ---------
ENERGY = 'energy{meter="m"}'
DAILY = []
for iso, n, hours in (("2024-03-30", 12, 24), ("2024-03-31", 12, 23),
                      ("2024-10-27", 12, 25), ("2024-10-28", 11, 24)):
    DAILY += day(ENERGY, iso, {i: [1.0] for i in range(n)}, n_hours=hours)
EXAMPLES += [
    example("daily-window-coverage", "over: 1d, coverage_min 0.5, one reading an hour expected",
            dict(id="energie", metric="energy", over="1d", coverage_min=0.5,
                 statistic="sum", period="month"), DAILY,
            # 03-30: 12/24 = 0.5 valid; 03-31: 12/23 = 0.52 valid; 10-27:
            # 12/25 = 0.48 invalid; 10-28: 11/24 = 0.46 invalid.
            # March: 12 + 12 = 24, 2 valid days of 31; October: none valid, 0/31.
            [row(ENERGY, "2024-03-01T00:00:00+01:00", 24.0, 2 / 31),
             row(ENERGY, "2024-10-01T00:00:00+02:00", None, 0.0)],
            sensor_period_s=3600),
]

# ---- watermark: final windows, provisional and final periods ---------------------
WM = 'v{id="w"}'
WM_READINGS = day(WM, "2024-05-01", [[1.0]] * 24)
WM_IND = dict(id="wm", metric="v", over="1h", statistic="count", period="day")
MAY2 = utc("2024-05-02T00:00")
EXAMPLES += [
    example("watermark-half-day", "hours final by noon local", WM_IND, WM_READINGS,
            # final: the hours ending by 12:00 local: 12 of 24
            [row(WM, "2024-05-01T00:00:00+02:00", 12, 12 / 24, status="provisional")],
            sensor_period_s=3600, watermark_utc=utc("2024-05-01T12:00") + 7201),
    example("watermark-one-second-short", "the watermark exactly at the last hour's end "
            "+ lateness: not past it, so not final", WM_IND,
            WM_READINGS,
            [row(WM, "2024-05-01T00:00:00+02:00", 23, 23 / 24, status="provisional")],
            sensor_period_s=3600, watermark_utc=MAY2 + 7200),
    example("watermark-final", "1 s past the end of the day + lateness: final", WM_IND,
            WM_READINGS,
            [row(WM, "2024-05-01T00:00:00+02:00", 24, 1.0)],
            sensor_period_s=3600, watermark_utc=MAY2 + 7201),
    example("watermark-nothing-final", "no final window: no row yet", WM_IND, WM_READINGS,
            [], sensor_period_s=3600, watermark_utc=utc("2024-05-01T01:00") + 7200),
]
