#!/usr/bin/env python3
"""daisy-read: get an object back from daisy volume files without daisy.

The reference reader of docs/FORMAT.md (volume format version 1), written
from that document alone, with Python 3's standard library only, so that a
site can read its volumes when no daisy binary (or no catalog) is left.

Usage:
    python3 daisy-read.py VOLUME-FILE... OBJECT-ID > object.tar
    python3 daisy-read.py --list VOLUME-FILE...

The first form writes the object's data, a POSIX pax tar stream, to
standard output: pipe it into "tar -xf -" or "tar -tvf -". Give every
volume file the object may be on (for example all *.vtape files of the
pool's directory); the reader finds the volume holding the object's Begin
record and follows its spans onto the continuation volumes (the Trailer
records name them), in any order of the files. An object ID may be given
by a unique prefix.

The second form lists, per volume, the objects it holds: ID, copy
number, source, level, start, records and bytes found, and whether the
object begins, ends or continues there.

Every block CRC32C and record CRC32C is checked (FORMAT.md §4, §6), the
records of the object must follow each other without a gap (§9), and the
stream is checked against its End record: its length, its number of data
records and its SHA-256 (§8.5). Damage is reported on standard error, by
volume and block; the exit code is 0 only when the whole object was
written and checked, 1 when it is incomplete or damaged (the output is
then not to be trusted), 2 for a usage error.

Compressed objects (sources with "compression: zstd", DataZstd records,
§9.1) need a zstd decoder, which Python's standard library has from
Python 3.14 on (module compression.zstd). With an older Python the reader
stops at the first compressed record with a message saying so (exit 1);
plain objects need nothing more.

Not done here (daisy does them): the one-bit correction of a damaged
label block (§5.1 step 3; the label name is then unknown, the data
blocks are read as usual) and reading other copies where one is damaged
(give the volumes of another copy instead).
"""

import hashlib
import json
import os
import struct
import sys
import uuid

FORMAT_VERSION = 1
BLOCK_HEADER = 64
RECORD_HEADER = 40
MAX_PAYLOAD = 65432
MIN_BLOCK, MAX_BLOCK = 64 << 10, 16 << 20

BEGIN, DATA, END, DATA_ZSTD = 1, 2, 3, 4
SESSION_BEGIN, SESSION_END, TRAILER, COPY_MARK = 16, 17, 18, 19
KNOWN_TYPES = {BEGIN, DATA, END, DATA_ZSTD, SESSION_BEGIN, SESSION_END, TRAILER, COPY_MARK}


# CRC32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and
# final XOR 0xFFFFFFFF), table-driven. T1[n] is the CRC register after
# shifting the byte n through it; four bytes at a time, the register x
# (the CRC xor the next four input bytes) becomes the sum of what its
# low and its high 16 bits become after 32 shifts: LO[x & 0xFFFF] ^ HI[x >> 16].
def _crc_tables():
    t1 = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t1.append(c)
    t2 = [(c >> 8) ^ t1[c & 0xFF] for c in t1]  # a byte, then 8 zero bits
    t3 = [(c >> 8) ^ t1[c & 0xFF] for c in t2]
    t4 = [(c >> 8) ^ t1[c & 0xFF] for c in t3]
    lo = [t4[i & 0xFF] ^ t3[i >> 8] for i in range(65536)]
    hi = [t2[i & 0xFF] ^ t1[i >> 8] for i in range(65536)]
    return t1, lo, hi


_T1, _LO, _HI = _crc_tables()


def crc32c(data, crc=0):
    """CRC32C of data, continuing from crc (the CRC of what came before)."""
    t1, lo, hi = _T1, _LO, _HI
    c = crc ^ 0xFFFFFFFF
    mv = memoryview(data)
    n4 = len(mv) // 4 * 4
    for (w,) in struct.iter_unpack("<I", mv[:n4]):
        x = w ^ c
        c = lo[x & 0xFFFF] ^ hi[x >> 16]
    for b in mv[n4:]:
        c = t1[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # FORMAT.md §1


def js(payload):
    """A JSON payload (§8) as a dict; {} with a warning when it does not parse."""
    try:
        v = json.loads(payload)
        if isinstance(v, dict):
            return v
    except ValueError:
        pass
    warn("a record's JSON payload does not parse: %r" % bytes(payload[:80]))
    return {}


def warn(msg):
    print("daisy-read: " + msg, file=sys.stderr)


class Damaged(Exception):
    """A block or record that fails a check of FORMAT.md §4 or §6."""


def parse_block_header(b):
    """The fields of a block header (§4); raises Damaged."""
    if len(b) < BLOCK_HEADER:
        raise Damaged("%d bytes, shorter than a block header" % len(b))
    magic, version, flags, vid, number, length, count, bsize, crc = struct.unpack_from("<4sHH16sQIII16xI", b)
    if magic != b"DSY1":
        raise Damaged("bad magic %r" % magic)
    if version != FORMAT_VERSION:
        raise Damaged("format version %d (this reader reads %d)" % (version, FORMAT_VERSION))
    if not (MIN_BLOCK <= bsize <= MAX_BLOCK and bsize % MIN_BLOCK == 0):
        raise Damaged("block size %d out of range" % bsize)
    if length > bsize - BLOCK_HEADER or BLOCK_HEADER + length > len(b):
        raise Damaged("payload length %d does not fit the block" % length)
    if crc32c(b[BLOCK_HEADER:BLOCK_HEADER + length], crc32c(b[:60])) != crc:
        raise Damaged("block CRC32C does not match")
    return flags, uuid.UUID(bytes=vid), number, length, count, bsize


class Record:
    __slots__ = ("type", "object", "offset", "seq", "payload")

    def __init__(self, rtype, obj, offset, seq, payload):
        self.type, self.object, self.offset, self.seq, self.payload = rtype, obj, offset, seq, payload


def parse_records(payload, count):
    """The records of a data block's payload (§4 check 8, §6); raises Damaged."""
    out, pos = [], 0
    while pos < len(payload):
        if len(payload) - pos < RECORD_HEADER:
            raise Damaged("a record header is cut at byte %d of the payload" % pos)
        magic, rtype, flags, length, oid, offset, seq, crc = struct.unpack_from("<2sBBI16sQII", payload, pos)
        if magic != b"dr" or flags != 0 or length > MAX_PAYLOAD or pos + RECORD_HEADER + length > len(payload):
            raise Damaged("record %d: bad magic, flags or length" % len(out))
        body = payload[pos + RECORD_HEADER:pos + RECORD_HEADER + length]
        if crc32c(body, crc32c(payload[pos:pos + 36])) != crc:
            raise Damaged("record %d: record CRC32C does not match" % len(out))
        out.append(Record(rtype, uuid.UUID(bytes=oid), offset, seq, body))
        pos += RECORD_HEADER + length
    if len(out) != count:
        raise Damaged("%d records in the payload, the header says %d" % (len(out), count))
    return out


class Volume:
    """One volume file: its label (block 0, §5) and its data blocks."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        with open(path, "rb") as f:
            first = f.read(BLOCK_HEADER)
            if len(first) < BLOCK_HEADER:
                raise SystemExit2("%s: %d bytes, not a daisy volume" % (path, len(first)))
            self.block_size = struct.unpack_from("<I", first, 40)[0]
            f.seek(0)
            block0 = f.read(max(self.block_size, BLOCK_HEADER)) if self.block_size <= MAX_BLOCK else first
        self.label_damaged = False
        try:
            flags, vid, number, length, count, bsize = parse_block_header(block0)
        except Damaged as e:
            if block0[:4] == b"DSY1" and struct.unpack_from("<H", block0, 4)[0] > FORMAT_VERSION:
                raise SystemExit2("%s: written by a newer daisy (format version %d); this reader reads version %d"
                                  % (path, struct.unpack_from("<H", block0, 4)[0], FORMAT_VERSION))
            warn("%s: block 0 (the label) is damaged (%s); recovering the volume from its data blocks" % (path, e))
            self._recover()
            return
        if flags != 1 or number != 0 or count != 0:
            raise SystemExit2("%s: block 0 is not a daisy label (flags %d, block %d, %d records)" % (path, flags, number, count))
        try:
            lbl = json.loads(block0[BLOCK_HEADER:BLOCK_HEADER + length])
        except ValueError as e:
            raise SystemExit2("%s: the label does not parse as JSON: %s" % (path, e))
        if lbl.get("format") != FORMAT_VERSION:
            raise SystemExit2("%s: label format %r; this reader reads version %d" % (path, lbl.get("format"), FORMAT_VERSION))
        if lbl.get("volume_id") != str(vid) or lbl.get("block_size") != bsize:
            raise SystemExit2("%s: the label's volume_id or block_size disagrees with its block header" % path)
        self.volume_id, self.block_size = vid, bsize
        self.label, self.pool = lbl.get("label", ""), lbl.get("pool", "")

    def _recover(self):
        """§5.1: block size and volume ID from the data blocks."""
        self.label_damaged = True
        self.label, self.pool = "(unknown, file %s)" % self.name, "(unknown)"
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            for bs in range(MIN_BLOCK, MAX_BLOCK + 1, MIN_BLOCK):
                if bs + BLOCK_HEADER > size:
                    break
                f.seek(bs)
                h = f.read(BLOCK_HEADER)
                if h[:4] == b"DSY1" and struct.unpack_from("<Q", h, 24)[0] == 1 and struct.unpack_from("<I", h, 40)[0] == bs:
                    self.block_size = bs
                    break
            else:
                raise SystemExit2("%s: damaged label and no block size found: not a daisy volume" % self.path)
            for n in range(1, 17):
                f.seek(n * self.block_size)
                try:
                    flags, vid, number, _, _, bsize = parse_block_header(f.read(self.block_size))
                except Damaged:
                    continue
                if flags == 0 and number == n and bsize == self.block_size:
                    self.volume_id = vid
                    return
        raise SystemExit2("%s: damaged label and no valid data block among blocks 1 to 16: not a daisy volume" % self.path)

    def begins(self):
        """The IDs of the objects whose Begin record is on the volume, from a
        quick pass over the record headers that checks no CRC: it only
        says which volume to read first."""
        found = set()
        with open(self.path, "rb") as f:
            n = 1
            while True:
                f.seek(n * self.block_size)
                h = f.read(BLOCK_HEADER)
                if len(h) < BLOCK_HEADER:
                    return found
                n += 1
                length = struct.unpack_from("<I", h, 32)[0]
                if h[:4] != b"DSY1" or length > self.block_size - BLOCK_HEADER:
                    continue
                payload = f.read(length)
                pos = 0
                while pos + RECORD_HEADER <= len(payload):
                    rtype, rlen = payload[pos + 2], struct.unpack_from("<I", payload, pos + 4)[0]
                    if rtype == BEGIN:
                        found.add(uuid.UUID(bytes=payload[pos + 8:pos + 24]))
                    pos += RECORD_HEADER + rlen

    def blocks(self):
        """Yields (block number, records) for each valid data block, and
        reports runs of damaged blocks on stderr (§4, §13, §14)."""
        bad = None  # [first, last, reason] of a run of damaged blocks

        def report():
            if bad:
                where = "block %d" % bad[0] if bad[0] == bad[1] else "blocks %d to %d" % (bad[0], bad[1])
                warn("volume %s (%s): %s damaged: %s; their records are not used" % (self.label, self.name, where, bad[2]))

        with open(self.path, "rb") as f:
            f.seek(self.block_size)
            n = 1
            while True:
                b = f.read(self.block_size)
                if not b:
                    break
                try:
                    if len(b) < self.block_size:
                        raise Damaged("partial block of %d bytes at the end of the file (an interrupted write)" % len(b))
                    flags, vid, number, length, count, bsize = parse_block_header(b)
                    if flags != 0 or vid != self.volume_id or number != n or bsize != self.block_size:
                        raise Damaged("header of another block, volume or block size")
                    recs = parse_records(b[BLOCK_HEADER:BLOCK_HEADER + length], count)
                except Damaged as e:
                    reason = str(e)
                    if b.count(0) == len(b):
                        reason = "zeros (never written)"
                    if bad and bad[1] == n - 1 and bad[2] == reason:
                        bad[1] = n
                    else:
                        report()
                        bad = [n, n, reason]
                    n += 1
                    continue
                report()
                bad = None
                yield n, recs
                n += 1
        report()


class SystemExit2(Exception):
    """A usage error or a file that is not a volume: exit 2."""


try:
    from compression import zstd as _zstd  # Python 3.14 and later
except ImportError:
    _zstd = None


def data_of(rec):
    """The object-stream bytes of a Data or DataZstd record (§9.1)."""
    if rec.type == DATA:
        return rec.payload
    if _zstd is None:
        raise Damaged("the object is compressed with zstd (DataZstd records), and this Python (%s) has no zstd "
                      "decoder in its standard library: run this reader with Python 3.14 or later (compression.zstd)"
                      % sys.version.split()[0])
    if len(rec.payload) < 4:
        raise Damaged("DataZstd record too short")
    n = struct.unpack_from("<I", rec.payload)[0]
    try:
        chunk = _zstd.decompress(rec.payload[4:])
    except Exception as e:
        raise Damaged("zstd frame does not decode: %s" % e)
    if len(chunk) != n or not 1 <= n <= MAX_PAYLOAD:
        raise Damaged("zstd frame decodes to %d bytes, the record says %d" % (len(chunk), n))
    return chunk


class ObjectStream:
    """The records of one object, checked in order (§9) and written out."""

    def __init__(self, oid, out):
        self.oid, self.out = oid, out
        self.seq, self.offset, self.records = 0, 0, 0
        self.sha = hashlib.sha256()
        self.copy = None          # the copy being read (from its copy marks)
        self.begin = None
        self.ended = False
        self.broken = None        # why the stream is not whole: nothing more is written
        self.continued_on = set()  # volumes with later records of the object, met before its Begin
        self.last = None  # where the last record read was: volume label, block

    def fail(self, msg):
        warn("object %s: %s" % (self.oid, msg))
        if self.broken is None:
            self.broken = msg

    def add(self, vol, block, rec):
        if self.ended:
            return
        self.last = (vol.label, block)
        if rec.seq < self.seq:
            self.fail("volume %s block %d: record %d repeated or out of order; not used" % (vol.label, block, rec.seq))
            return
        if rec.seq > self.seq:
            self.fail("records %d to %d (bytes from %d) are missing before volume %s block %d: they were in damaged blocks"
                      % (self.seq, rec.seq - 1, self.offset, vol.label, block))
            self.seq = rec.seq  # go on checking what follows
            if rec.type != END:
                self.offset = rec.offset
        if rec.type == BEGIN:
            if rec.seq != 0:
                return self.fail("volume %s block %d: a Begin record with sequence %d" % (vol.label, block, rec.seq))
            self.begin = js(rec.payload)
            if self.begin.get("content", "pax") != "pax":
                self.fail("content %r is not a pax stream" % self.begin.get("content"))
        elif rec.type in (DATA, DATA_ZSTD):
            if self.seq == 0:
                return self.fail("a data record before the Begin record")
            if rec.offset != self.offset:
                self.fail("volume %s block %d: record %d at offset %d, expected %d" % (vol.label, block, rec.seq, rec.offset, self.offset))
                self.offset = rec.offset
            try:
                data = data_of(rec)
            except Damaged as e:
                self.fail("volume %s block %d, record %d: %s" % (vol.label, block, rec.seq, e))
                data = None
            if data is not None:
                self.offset += len(data)
                self.records += 1
                self.sha.update(data)
                if self.broken is None:
                    self.out.write(data)
        elif rec.type == END:
            self.ended = True
            end = js(rec.payload)
            if end.get("aborted"):
                return self.fail("the backup gave up on this object: %s" % end["aborted"])
            if rec.offset != self.offset or end.get("length") != self.offset:
                self.fail("the End record says %s bytes, the records hold %d" % (end.get("length"), self.offset))
            if end.get("records") != self.records:
                self.fail("the End record says %s data records, %d were read" % (end.get("records"), self.records))
            if end.get("hash") != "sha256:" + self.sha.hexdigest():
                self.fail("SHA-256 of the stream %s, the End record says %s" % (self.sha.hexdigest(), end.get("hash")))
        self.seq += 1


def scan_volume(vol, oid, stream, continuing):
    """Reads vol for object oid into stream. Returns the TrailerInfo of the
    session the object continues from, or None."""
    mark = None         # copy number of the object's last copy mark
    in_session = False  # the object had records in the current session
    here = 0            # records of the object read on this volume
    for block, recs in vol.blocks():
        for r in recs:
            if r.type == SESSION_BEGIN:
                in_session = False
                mark = None
            elif r.type in (SESSION_END, TRAILER):
                if in_session and not stream.ended:
                    if r.type == TRAILER:
                        trailer = js(r.payload)
                        if "next_volume_id" not in trailer:
                            stream.fail("volume %s block %d: the trailer names no next volume" % (vol.label, block))
                            return None
                        return trailer
                    stream.fail("the session on volume %s ended (block %d) without the object's End record" % (vol.label, block))
                    return None
                in_session = False
            elif r.object != oid:
                if r.type not in KNOWN_TYPES:
                    warn("volume %s block %d: record of unknown type %d skipped" % (vol.label, block, r.type))
            elif r.type == COPY_MARK:
                mark = js(r.payload).get("copy")
            elif r.type not in (BEGIN, DATA, END, DATA_ZSTD):
                warn("volume %s block %d: record of type %d of the object skipped" % (vol.label, block, r.type))
            elif stream.ended or (stream.copy is not None and mark is not None and mark != stream.copy):
                pass  # another copy of the object on this volume
            elif not continuing and stream.begin is None and r.type != BEGIN:
                # A continuation volume met first: it is read when the
                # span from the volume with the Begin record is followed.
                stream.continued_on.add(vol.label)
            else:
                if stream.begin is None and r.type == BEGIN:
                    stream.copy = mark
                in_session = True
                here += 1
                stream.add(vol, block, r)
                if stream.ended:
                    return None
    if continuing and here == 0:
        stream.fail("it continues on volume %s, where none of its records could be read" % vol.label)
    elif in_session and not stream.ended:
        stream.fail("volume %s ends inside the session that writes the object (a truncated volume or an interrupted backup)" % vol.label)
    return None


def read_object(paths, want):
    vols = [Volume(p) for p in paths]
    by_id = {v.volume_id: v for v in vols}
    oid = resolve_id(vols, want)
    stream = ObjectStream(oid, sys.stdout.buffer)
    # The volume the object begins on first (any order of the files).
    vols.sort(key=lambda v: oid not in v.begins())
    for start in vols:
        trailer = scan_volume(start, oid, stream, False)
        vol, chain = start, {start.volume_id}
        while trailer is not None:
            try:
                nid = uuid.UUID(str(trailer.get("next_volume_id")))
            except ValueError:
                stream.fail("volume %s: the trailer's next_volume_id %r is not an ID" % (vol.label, trailer.get("next_volume_id")))
                break
            nxt = by_id.get(nid)
            if nxt is None:
                stream.fail("continues on volume %s (%s), whose file was not given: add it" % (trailer.get("next"), nid))
                break
            if nid in chain:
                stream.fail("the span from volume %s loops back to %s" % (vol.label, nxt.label))
                break
            chain.add(nid)
            vol = nxt
            trailer = scan_volume(nxt, oid, stream, True)
        if stream.begin is not None:
            break
    sys.stdout.buffer.flush()
    if stream.begin is None:
        more = ""
        if stream.continued_on:
            more = "; %s holds later records of it: give the volume it begins on too" % ", ".join(sorted(stream.continued_on))
        warn("object %s: no Begin record on the volumes given (%s)%s" % (oid, ", ".join(v.name for v in vols), more))
        return 1
    if not stream.ended and stream.broken is None:
        stream.fail("no End record after record %d (byte %d, volume %s block %d): the object is incomplete"
                    % (stream.seq - 1, stream.offset, stream.last[0], stream.last[1]))
    if stream.broken is not None:
        warn("object %s: INCOMPLETE, the output is not the whole object" % oid)
        return 1
    warn("object %s (%s of %s): %d bytes, %d data records, SHA-256 checked" % (
        oid, stream.begin.get("level", "?"), stream.begin.get("source", "?"), stream.offset, stream.records))
    return 0


def resolve_id(vols, want):
    """The object whose ID is want or starts with it (found on the volumes)."""
    try:
        return uuid.UUID(want)
    except ValueError:
        pass
    prefix = want.lower()
    if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
        raise SystemExit2("%r is not an object ID" % want)
    found = set()
    for v in vols:
        found |= {o for o in v.begins() if str(o).startswith(prefix)}
    if len(found) != 1:
        raise SystemExit2("%d objects on these volumes have an ID starting with %s; give more of it" % (len(found), want))
    return found.pop()


def list_volume(vol, out):
    """Prints the objects of vol: one line per object and copy."""
    print("volume %s (%s), pool %s, block size %d, file %s" % (vol.label, vol.volume_id, vol.pool, vol.block_size, vol.path), file=out)
    objs, order = {}, []
    mark = {}
    session_objs = set()
    for _, recs in vol.blocks():
        for r in recs:
            if r.type == SESSION_BEGIN:
                session_objs, mark = set(), {}
                continue
            if r.type in (SESSION_END, TRAILER):
                for k in session_objs:
                    o = objs[k]
                    if not o["ended"]:
                        o["state"] = "continues on " + js(r.payload).get("next", "?") if r.type == TRAILER else "no End record"
                session_objs = set()
                continue
            if r.type == COPY_MARK:
                mark[r.object] = js(r.payload).get("copy")
                continue
            if r.type not in (BEGIN, DATA, END, DATA_ZSTD):
                continue
            key = (r.object, mark.get(r.object))
            o = objs.get(key)
            if o is None:
                o = objs[key] = {"begin": None, "first": r.seq, "records": 0, "bytes": 0, "ended": False, "state": "no End record"}
                order.append(key)
            session_objs.add(key)
            if r.type == BEGIN:
                o["begin"] = js(r.payload)
            elif r.type == END:
                o["ended"] = True
                end = js(r.payload)
                o["state"] = "aborted" if end.get("aborted") else "ends here, %d bytes" % end.get("length", 0)
            else:
                o["records"] += 1
                o["bytes"] += len(r.payload)
    print("%-36s  %4s  %-12s  %-12s  %-30s  %8s  %12s  %s" % ("OBJECT", "COPY", "SOURCE", "LEVEL", "STARTED", "RECORDS", "BYTES", "STATE"), file=out)
    for key in order:
        o = objs[key]
        b = o["begin"] or {}
        state = o["state"]
        if o["begin"] is None:
            state = "continued from another volume (record %d on), %s" % (o["first"], state)
        print("%-36s  %4s  %-12s  %-12s  %-30s  %8d  %12d  %s" % (key[0], key[1] if key[1] is not None else "-", b.get("source", "?"),
              b.get("level", "?"), b.get("time", "?"), o["records"], o["bytes"], state), file=out)


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    try:
        if args[0] == "--list":
            if len(args) < 2:
                raise SystemExit2("--list needs volume files")
            for p in args[1:]:
                list_volume(Volume(p), sys.stdout)
            return 0
        if len(args) < 2:
            raise SystemExit2("give the volume files and then the object ID")
        if sys.stdout.isatty():
            raise SystemExit2("standard output is a terminal: redirect it to a file, or pipe it into tar -tvf -")
        return read_object(args[:-1], args[-1])
    except SystemExit2 as e:
        warn(str(e))
        return 2
    except BrokenPipeError:
        return 1
    except OSError as e:
        warn(str(e))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
