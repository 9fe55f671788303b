#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the checked-in seed corpus: tests/fuzz/corpus/<target>/<name>.

Each seed is a script in the decoding of its target (see the comments at the
top of fuzz-records.c and fuzz-api.c) that reaches the deep paths at once, so
that a 60 s run spends its time mutating useful inputs instead of finding the
way to a delivered group. Run it after changing a decoder:
    python3 tests/fuzz/seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- fuzz-records -------------------------------------------------------------

LAST = 2


def cfg(uring=False, batch_idx=7, maxg_idx=0, deadline=False, handler=False):
    c0 = (1 if uring else 0) | (batch_idx << 1) | (0x10 if deadline else 0) | (0x20 if handler else 0)
    return bytes([c0, maxg_idx])


def compact(recs):
    """recs: (flags byte, cookie byte) pairs; op 0."""
    out = bytes([0, len(recs)])
    for a, b in recs:
        out += bytes([a, b])
    return out


def raw(recs):
    """Whole kernel records; op 2."""
    out = bytes([2, len(recs)])
    for flags, cookie in recs:
        out += struct.pack('<IIIIIIQII', flags, 1, 0, 0, 1, 0, 0x1000, 0, cookie)
    return out


PROCESS = bytes([5])
FLUSH = bytes([8])
WAIT = bytes([10])


def pull(n):
    return bytes([6 + 12 * (n - 1)]) if n <= 16 else bytes([6])


def find_op(pred):
    for op in range(256):
        if pred(op):
            return op
    raise ValueError('no such op byte')


def respond(idx, code=0, twice=False):
    # op 7: code = (op >> 4) % 3, twice = op & 0x80
    op = find_op(lambda op: op % 12 == 7 and (op >> 4) % 3 == code and bool(op & 0x80) == twice)
    return bytes([op, idx])


def respond_all(code=0):
    # op 11: every held group, code (op >> 4) & 1; 0x80 adds a pull(0) check
    return bytes([find_op(lambda op: op % 12 == 11 and (op >> 4) & 1 == code and not op & 0x80)])


def result(i):
    # op 3 without 0x80: a read result; 0 0, 1 EINVAL, 2 EAGAIN, 3 EINTR, 4 EIO
    return bytes([3, i])


def wrule(what, arg=0):
    # op 4: what = (b & 7) % 5 + 1 (1 short, 2 EINVAL, 3 EAGAIN, 4 zero, 5 EIO), arg = b >> 3
    b = (what - 1) | (arg << 3)
    assert (b & 7) % 5 + 1 == what
    return bytes([4, b])


def dispatch(decisions):
    return bytes([9]) + bytes(decisions)


def records_seeds():
    s = {}
    g = [(0, 1), (0, 1), (LAST, 1), (LAST, 2), (1, 3), (LAST | 1, 3)]
    s['groups-plain'] = cfg() + compact(g) + PROCESS + pull(4) + respond(0) + respond(0, 1) + FLUSH
    s['groups-uring'] = cfg(uring=True) + compact(g) + PROCESS + pull(4) + respond(1, 0, True) + FLUSH + WAIT
    # A group split over two reads, a new cookie closing an open group, a
    # repeated cookie, unknown flag and perm bits.
    s['split-malformed'] = (cfg(batch_idx=1) + compact([(0, 5), (0, 5), (LAST, 5), (0, 6), (0x80 | 0x7c, 7),
                                                        (LAST, 7), (LAST, 7)]) +
                            PROCESS + PROCESS + pull(8) + respond_all(0) + FLUSH)
    # Groups over max_group (2): answered INVALID, the rest skipped.
    s['too-big'] = (cfg(batch_idx=2, maxg_idx=2) + compact([(0, 9), (0, 9), (0, 9), (0, 9), (LAST, 9), (LAST, 10)]) +
                    PROCESS + PROCESS + pull(4) + respond_all(1))
    # "Does not fit": 0 after a poll (old kernels) and EINVAL (6.12): grow.
    s['nofit'] = (cfg(batch_idx=0, maxg_idx=6) + result(0) + result(1) + compact([(0, 1), (0, 1), (LAST, 1)]) +
                  PROCESS + PROCESS + WAIT + pull(2) + respond(0))
    # Write results: short, refused, try again, failed.
    s['writes'] = (cfg() + compact([(LAST, c) for c in range(1, 9)]) + PROCESS + pull(8) + respond_all(0) +
                   wrule(1, 3) + wrule(2) + wrule(3) + wrule(4) + FLUSH + FLUSH + wrule(5) +
                   compact([(LAST, 20)]) + PROCESS + pull(1) + respond(0) + FLUSH)
    # Raw kernel records, and bytes that are not whole records (EIO).
    s['raw'] = cfg(uring=True) + raw([(LAST, 1), (0, 2), (LAST | 0xff00, 2)]) + PROCESS + pull(3) + respond(0)
    s['partial-bytes'] = cfg() + compact([(LAST, 1)]) + bytes([find_op(lambda op: op % 12 == 3 and op & 0x80), 50]) + bytes(range(51)) + PROCESS + PROCESS
    s['deadline'] = (cfg(deadline=True) + compact([(LAST, 1), (LAST, 2)]) + PROCESS + pull(1) + PROCESS +
                     respond(0) + FLUSH)
    s['dispatch'] = (cfg(handler=True, uring=True) + compact([(LAST, 1), (LAST, 2), (LAST, 3), (LAST, 4)]) +
                     dispatch([0, 1, 2, 3]) + respond_all(0) + FLUSH)
    return s

# ---- fuzz-api -----------------------------------------------------------------


def sized_exact(payload=None, size=None):
    """sized(): b & 3 == 0 with 0x80 set takes the struct's bytes from the input."""
    if payload is None:
        return bytes([0])
    return bytes([0x80]) + payload


def api_prologue(kind):
    out = sized_exact() + bytes([0])                          # mock opts: size only
    out += bytes([0, 0, 0])                                   # ctx slot 0 <- mock
    eng = struct.pack('<IIII', 16, kind, 8, 0)
    out += bytes([2, 0, 0]) + sized_exact(eng)                # engine slot 0
    return out


def api_queue(handler=False):
    how = 0x10 | (0x08 if handler else 0)
    return bytes([4, 0, 0, 0, how]) + sized_exact()           # queue slot 0; ids: [fault]


def api_topology():
    out = bytes([7, 0, 0])                                    # ioas; ids: [fault, ioas]
    out += bytes([8, 0])                                      # dev; ids: [.., dev]
    # parent: qi 0, ctx 0, no queue, how 3 (NEST_PARENT), args, data, dev, ioas
    out += bytes([6, 0, 0, 0, 3]) + sized_exact() + bytes(64) + bytes([2, 1])
    # nested with the queue: how 5 (data 0xdead, 4 bytes), dev, parent
    out += bytes([6, 0, 0, 1, 5]) + sized_exact() + bytes([0xef] * 64) + bytes([2, 3])
    out += bytes([8, 1, 2, 4])                                # attach dev -> nested
    return out


def api_trigger(n, grpid=1):
    faults = b''.join(struct.pack('<IIIIQ', 0, 0, 1, 0, 0x1000 * (i + 1)) for i in range(8))
    return bytes([9, n]) + faults + bytes([2, grpid])


def api_pull(n):
    # op 12, engine 0, how % 6 == 4: pull (how >> 3) % 17 groups
    return bytes([12, 0, find_op(lambda h: h % 6 == 4 and (h >> 3) % 17 == n and not h & 0x80)])


def api_respond(i, code=0):
    # op 14: how % 3 == 0 responds with (how >> 4) & 1 (how & 8: a u32 code)
    return bytes([14, find_op(lambda h: h % 3 == 0 and (h >> 4) & 1 == code and not h & 0x88), i])


API_FLUSH = bytes([12, 0, 2])
API_PROCESS = bytes([12, 0, 0])


def api_seeds():
    s = {}
    for name, kind in (('plain', 1), ('uring', 0)):
        s['lifecycle-' + name] = (api_prologue(kind) + api_queue() + api_topology() + api_trigger(1) +
                                  api_trigger(3, 2) + api_trigger(8, 3) + api_pull(8) + api_respond(0) +
                                  api_respond(0, 1) + API_FLUSH + bytes([5, 0]) + bytes([16, 1]) + bytes([17 | 0x80]))
    s['dispatch'] = (api_prologue(1) + api_queue(True) + api_topology() + api_trigger(2) + api_trigger(1) +
                     bytes([12, 0, 3, 0, 1]) + API_FLUSH)
    # Failures: the next HWPT_ALLOC, a split read, a short write, a detach.
    s['inject'] = (api_prologue(1) + api_queue() + api_topology() +
                   bytes([11, 1 | (5 << 1) | (1 << 4), 12]) +           # ioctl FAULT_QUEUE_ALLOC, nth 1, ENOMEM
                   bytes([11, (3 << 1) | (1 << 4), 1, 0]) +              # fd READ_SPLIT 1 on ids[0]
                   api_trigger(4) + api_pull(4) + api_respond(0) + API_FLUSH +
                   bytes([8, 2, 2]) + API_PROCESS + bytes([7, 0, 2]))    # detach dev, process, probe
    s['bad-args'] = (api_prologue(0) + bytes([4, 1, 3, 2, 0x01]) + sized_exact() +
                     bytes([4, 1, 0, 0, 0]) + bytes([0x41]) + bytes([0] * 16) +
                     bytes([6, 0, 0, 0, 0]) + bytes([0xfe]) + bytes([0xff] * 128) + bytes(64) +
                     bytes([0, 1, 4, 0, 2, 3, 0, 4]) + bytes([16, 0, 0x81, 0xff]) + bytes(16))
    return s


# ---- fuzz-vevent --------------------------------------------------------------

VLOST = 1


def vrec(flags, seq, plen):
    return struct.pack('<II', flags, seq) + (b'' if flags & VLOST else bytes([seq & 0xff]) * plen)


def vread(recs, plen):
    body = b''.join(vrec(f, q, plen) for f, q in recs)
    return bytes([len(body)]) + body


def vevent_seeds():
    """Byte 0: payload length index (0: 4, 1: 16, 2: 32); bytes 2..5: start
    sequence; byte 6: events per call - 1; then reads (length, bytes)."""
    def hdr(pidx, start, maxm1):
        return bytes([pidx, 0]) + struct.pack('<I', start) + bytes([maxm1])
    s = {}
    s['in-order'] = hdr(0, 0, 15) + vread([(0, 0), (0, 1), (0, 2)], 4)
    s['gap-and-lost'] = hdr(0, 0, 1) + vread([(0, 0), (0, 1), (VLOST, 6)], 4) + vread([(0, 7), (0, 9)], 4)
    s['wrap'] = hdr(2, 0x7ffffffe, 3) + vread([(0, 0x7ffffffe), (0, 0x7fffffff), (0, 0)], 32) + \
        vread([(VLOST, 2), (0, 3)], 32)
    s['malformed'] = hdr(1, 0, 15) + vread([(0, 0), (2, 1)], 16) + bytes([3, 1, 2, 3])
    return s


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    write('fuzz-records', records_seeds())
    write('fuzz-api', api_seeds())
    write('fuzz-vevent', vevent_seeds())
