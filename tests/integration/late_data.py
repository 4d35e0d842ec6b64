"""Real readings that arrive late: the scenarios of test_late.py and
bench/late.py, built from the Aarhus road-traffic data set of ../shared/data
(5-minute vehicle counts and mean speeds of two directions of one road,
timestamps in UTC).

Nothing here uses Vigie's code: local days come from zoneinfo, and which
resolutions a late reading goes into is computed from the documented rule
(worker.h "Late readings"): with W = floor(partition's highest event time so
far - out_of_orderness), a reading goes into resolution r unless r has a
retention R and the reading's window of r ends at or before W - R.
"""
import csv
import math
import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

SHARED = os.environ.get("VIGIE_SHARED_DATA",
                        os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))), "..", "shared", "data"))
SHARED = os.path.normpath(SHARED)
AARHUS = os.path.join(SHARED, "aarhus-traffic-bt")
TZ = "Europe/Copenhagen"
RIDS = ("192600", "192574")


def utc_s(text):
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def aarhus_rows(rid):
    """(t UTC s, vehicle count, mean speed) of one direction, in file order
    (duplicates and backward jumps included: they were received)."""
    with open(os.path.join(AARHUS, f"trafficData{rid}.csv"), newline="") as f:
        return [(utc_s(r["TIMESTAMP"]), int(r["vehicleCount"]), int(r["avgSpeed"]))
                for r in csv.DictReader(f)]


def windows_of(t, tz):
    """UTC starts and ends of the base (1 min), hour and day windows of t."""
    base = math.floor(t / 60) * 60
    local = datetime.fromtimestamp(t, tz)
    hour = local.replace(minute=0, second=0, microsecond=0)
    day = datetime(local.year, local.month, local.day, tzinfo=tz)
    nday = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=tz)
    return {"1m": (base, base + 60), "1h": (int(hour.timestamp()), int(hour.timestamp()) + 3600),
            "1d": (int(day.timestamp()), int(nday.timestamp()))}


def into(t, part_max, keep, ooo=10):
    """The resolutions a reading at t goes into, its partition's highest
    event time being part_max (this reading included); keep: retention in
    seconds per resolution, 0 = forever."""
    w = part_max - ooo  # whole seconds here
    out = set()
    for res, (_, end) in windows_of(t, ZoneInfo(TZ)).items():
        if not keep[res] or end > w - keep[res]:
            out.add(res)
    return out


def station_scenario(n_stations=1000, days=34, late_day=1, every_h=3,
                     first_day="2014-03-09"):
    """n_stations stations replaying real Aarhus vehicle counts over `days`
    local days from first_day: station k replays direction RIDS[k % 2]
    shifted by (k // 2) % 50 days, so that they differ. On time, each
    station sends its reading at every `every_h`-th whole UTC hour, in time
    order across stations; its other readings of local day number late_day
    it sends a month late, all at once, station after station.
    Returns (on_time, late, day_bounds) where on_time and late are lists of
    (key, line protocol, series, t, value)."""
    tz = ZoneInfo(TZ)
    y, m, d = (int(x) for x in first_day.split("-"))
    start = int(datetime(y, m, d, tzinfo=tz).timestamp())
    end = int(datetime.fromordinal(datetime(y, m, d).toordinal() + days)
              .replace(tzinfo=tz).timestamp())
    ld0 = datetime.fromordinal(datetime(y, m, d).toordinal() + late_day)
    lday = (int(ld0.replace(tzinfo=tz).timestamp()),
            int(datetime.fromordinal(ld0.toordinal() + 1).replace(tzinfo=tz).timestamp()))
    rows = {rid: sorted(aarhus_rows(rid)) for rid in RIDS}
    on_time, late = [], []
    for k in range(n_stations):
        shift = ((k // 2) % 50) * 86400
        key = f"st{k:04d}"
        series = f'traffic_vehicle_count{{station="{key}"}}'
        for u, count, _ in rows[RIDS[k % 2]]:
            t = u - shift
            if t < start or t >= end:
                continue
            msg = (key, f"traffic,station={key} vehicle_count={count}i {t}", series, t,
                   float(count))
            if t % 3600 == 0 and (t // 3600) % every_h == 0:
                on_time.append(msg)
            elif lday[0] <= t < lday[1]:
                late.append(msg)
    on_time.sort(key=lambda m: m[3])  # stable: a station's duplicates keep their order
    return on_time, late, lday


__all__ = ["SHARED", "AARHUS", "TZ", "RIDS", "aarhus_rows", "windows_of", "into",
           "station_scenario"]
