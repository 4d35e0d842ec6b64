"""An independent reader of Vigie's accumulator encoding -- what the `state`
field of every rollup record holds in base64 -- written from docs/deltas.md
("The accumulator encoding"), not from the C code: its statistics, first
and last readings, quantile sketch (with its quantile rule) and
distinct-count registers, and the exact merges a territory makes of them.
"""
import base64
import math
import struct


class Reader:
    def __init__(self, data):
        self.b, self.i = data, 0

    def u8(self):
        v = self.b[self.i]
        self.i += 1
        return v

    def u64(self):
        v = struct.unpack_from("<Q", self.b, self.i)[0]
        self.i += 8
        return v

    def i64(self):
        v = struct.unpack_from("<q", self.b, self.i)[0]
        self.i += 8
        return v

    def f64(self):
        v = struct.unpack_from("<d", self.b, self.i)[0]
        self.i += 8
        return v

    def varint(self):
        v, shift = 0, 0
        while True:
            c = self.u8()
            v |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return v

    def zigzag(self):
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def head(self, tag):
        got, version = self.u8(), self.u8()
        assert got == ord(tag), f"tag {chr(got)!r}, expected {tag!r}"
        assert version == 1, f"{tag}: version {version}"


class State:
    """count, sum, min, max, mean, m2; first/last (time ns, value); the
    quantile sketch (alpha, zero count, {bucket: count} positive and
    negative) or None; the HLL (p, {register: rank}) or None."""

    def __init__(self):
        self.count, self.sum, self.min, self.max, self.mean, self.m2 = 0, 0.0, None, None, \
            None, 0.0
        self.first = self.last = None
        self.qs = self.hll = None

    def stddev(self):
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else None

    def quantile(self, q):
        """The value of rank floor(q (count - 1)), docs/deltas.md's walk."""
        alpha, zero, pos, neg = self.qs
        gamma = (1 + alpha) / (1 - alpha)
        rank, cum = math.floor(q * (self.count - 1)), 0
        for i in sorted(neg, reverse=True):
            cum += neg[i]
            if cum > rank:
                return -2 * gamma ** i / (gamma + 1)
        cum += zero
        if cum > rank:
            return 0.0
        for i in sorted(pos):
            cum += pos[i]
            if cum > rank:
                return 2 * gamma ** i / (gamma + 1)
        return 2 * gamma ** max(pos) / (gamma + 1)


def decode(b64):
    """The State of a rollup record's `state` field."""
    r = Reader(base64.b64decode(b64, validate=True))
    r.head("A")
    flags = r.u8()
    s = State()
    if flags == 4:
        v, t = r.f64(), r.i64()
        s.count, s.sum, s.min, s.max, s.mean, s.m2 = 1, v, v, v, v, 0.0
        s.first = s.last = (t, v)
        assert r.i == len(r.b)
        return s
    assert flags <= 3, flags
    r.head("S")
    s.count = r.varint()
    if s.count:
        total, comp, s.min, s.max, mean, mean_lo, m2, m2_c = (r.f64() for _ in range(8))
        s.sum, s.mean, s.m2 = total + comp, mean + mean_lo, m2 + m2_c
    r.head("F")
    if r.u8():
        s.first = (r.i64(), r.f64())
        s.last = (r.i64(), r.f64())
    if flags & 1:
        r.head("D")
        alpha = r.f64()
        r.varint()  # max_bins
        zero = r.varint()
        stores = []
        for _ in range(2):
            n, buckets = r.varint(), {}
            if n:
                first = r.zigzag()
                for k in range(n):
                    c = r.varint()
                    if c:
                        buckets[first + k] = c
            stores.append(buckets)
        s.qs = (alpha, zero, stores[0], stores[1])
        assert zero + sum(stores[0].values()) + sum(stores[1].values()) == s.count
    if flags & 2:
        r.head("H")
        p, dense = r.u8(), r.u8()
        regs = {}
        if dense:
            for k in range(1 << p):
                if r.b[r.i + k]:
                    regs[k] = r.b[r.i + k]
            r.i += 1 << p
        else:
            prev = 0
            for _ in range(r.varint()):
                prev += r.varint()
                regs[prev >> 8] = prev & 0xFF
        s.hll = (p, regs)
    assert r.i == len(r.b), f"{len(r.b) - r.i} bytes left"
    return s


def merge(states):
    """The exact merge of states (docs/deltas.md): counts and sums add,
    extremes compare, mean and M2 by Chan's formula, first/last by time,
    sketch buckets add, registers take their maximum."""
    out = State()
    for s in states:
        if not s.count:
            continue
        if not out.count:
            out.count, out.sum, out.min, out.max, out.mean, out.m2 = \
                s.count, s.sum, s.min, s.max, s.mean, s.m2
        else:
            n = out.count + s.count
            d = s.mean - out.mean
            out.m2 += s.m2 + d * d * out.count * s.count / n
            out.mean += d * s.count / n
            out.count, out.sum = n, out.sum + s.sum
            out.min, out.max = min(out.min, s.min), max(out.max, s.max)
        out.first = s.first if out.first is None or s.first < out.first else out.first
        out.last = s.last if out.last is None or s.last > out.last else out.last
        if s.qs:
            alpha, zero, pos, neg = out.qs or (s.qs[0], 0, {}, {})
            pos, neg = dict(pos), dict(neg)
            for mine, theirs in ((pos, s.qs[2]), (neg, s.qs[3])):
                for i, c in theirs.items():
                    mine[i] = mine.get(i, 0) + c
            out.qs = (alpha, zero + s.qs[1], pos, neg)
    return out
