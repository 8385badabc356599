package agent

// Sparse files. A regular file whose holes total at least sparseMinHoles
// bytes is written as a GNU sparse 1.0 pax entry, which GNU tar, bsdtar and
// Go's archive/tar Reader read back (archive/tar cannot write it, so the
// headers are formatted here):
//
//   - a pax extended header with GNU.sparse.major=1, GNU.sparse.minor=0,
//     GNU.sparse.name (the real name), GNU.sparse.realsize (the file's
//     size), and the records archive/tar would write (xattrs, long owner
//     names, large ids);
//   - a ustar header named DIR/GNUSparseFile.0/BASE (GNU tar's convention,
//     so a tar that knows nothing of sparse files extracts the condensed
//     form beside the real name), whose size is what follows: the map and
//     the data;
//   - the map: decimal numbers, each ended by a newline, the number of data
//     regions then each region's offset and length, padded with zeros to
//     the next 512-byte block; then the regions' data, one after the
//     other. A file that ends in a hole has a last region of length 0 at
//     its size (GNU tar sets the size of the file it extracts from it).
//
// The data regions are found with lseek(2) SEEK_DATA/SEEK_HOLE and widened
// to 512-byte blocks (GNU tar reads each region in whole blocks). A file
// system that cannot tell (EINVAL), or that reports the file as all data,
// gives a plain entry, as does a file with fewer holes; a file with more
// than maxSparseRegions data regions keeps its holes up to the last one
// and stores the rest as data, so the map stays small (archive/tar reads
// maps up to 1 MiB).

import (
	"archive/tar"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// sparseMinHoles is how many bytes of holes a file must have to be
	// stored sparse: at least a 4 KiB block.
	sparseMinHoles = 4096
	tarBlock       = 512
	// maxPAXHeader is archive/tar's limit on a pax extended header.
	maxPAXHeader = 1 << 20
)

// maxSparseRegions bounds the data regions of a sparse entry's map (at
// most 40 bytes each in the map); a variable for tests.
var maxSparseRegions = 8192

var zeroPad [tarBlock]byte

// region is a data region [off, end) of a sparse file.
type region struct{ off, end int64 }

// sparseMap is the layout of a file stored sparse.
type sparseMap struct {
	size    int64    // the file's size (GNU.sparse.realsize)
	regions []region // data regions, in order, not overlapping, 512-aligned except an end at size
}

// data is the number of data bytes the regions hold.
func (m *sparseMap) data() int64 {
	var n int64
	for _, r := range m.regions {
		n += r.end - r.off
	}
	return n
}

// lseek is unix.Seek; tests replace it to act as a file system without
// SEEK_DATA or as a file that changes.
var lseek = unix.Seek

// mayBeSparse reports whether st could be a file with holes worth a sparse
// entry: fewer bytes allocated than its size says.
func mayBeSparse(st *unix.Stat_t) bool {
	return st.Size >= sparseMinHoles && st.Blocks*512 < st.Size
}

// findSparse returns the data regions of the regular file open as fd, of
// the given size, or nil when it is to be stored as plain data: the file
// system cannot tell, or the holes are fewer than sparseMinHoles bytes. It
// leaves the file offset at 0.
func findSparse(fd int, size int64) *sparseMap {
	m := &sparseMap{size: size}
	ok := m.scan(fd)
	if _, err := lseek(fd, 0, unix.SEEK_SET); err != nil || !ok {
		return nil
	}
	if size-m.data() < sparseMinHoles {
		return nil
	}
	return m
}

// scan fills m.regions; false when the file system gave no usable answer.
func (m *sparseMap) scan(fd int) bool {
	for pos := int64(0); pos < m.size; {
		d, err := lseek(fd, pos, unix.SEEK_DATA)
		if err == unix.ENXIO {
			return true // a hole up to the end of the file
		}
		if err != nil || d < pos {
			return false
		}
		if d >= m.size {
			return true
		}
		h, err := lseek(fd, d, unix.SEEK_HOLE)
		if err != nil || h <= d {
			return false
		}
		h = min(h, m.size)
		start := d &^ (tarBlock - 1)
		end := min((h+tarBlock-1)&^(tarBlock-1), m.size)
		if n := len(m.regions); n > 0 && start <= m.regions[n-1].end {
			m.regions[n-1].end = end
		} else {
			if n == maxSparseRegions {
				// The rest is stored as data.
				m.regions[n-1].end = m.size
				return true
			}
			m.regions = append(m.regions, region{start, end})
		}
		pos = h
	}
	return true
}

// mapBytes appends the map of m, padded to whole tar blocks, to b.
func (m *sparseMap) mapBytes(b []byte) []byte {
	start := len(b)
	entries := m.regions
	trailing := len(entries) == 0 || entries[len(entries)-1].end < m.size
	n := len(entries)
	if trailing {
		n++
	}
	b = append(strconv.AppendInt(b, int64(n), 10), '\n')
	for _, r := range entries {
		b = append(strconv.AppendInt(b, r.off, 10), '\n')
		b = append(strconv.AppendInt(b, r.end-r.off, 10), '\n')
	}
	if trailing {
		b = append(strconv.AppendInt(b, m.size, 10), '\n')
		b = append(b, '0', '\n')
	}
	return padBlock(b, len(b)-start)
}

// padBlock appends the zeros that bring n bytes to a whole tar block.
func padBlock(b []byte, n int) []byte {
	if r := n % tarBlock; r != 0 {
		b = append(b, make([]byte, tarBlock-r)...)
	}
	return b
}

// sparseName is the name of the ustar header of a sparse entry: GNU tar's
// DIR/GNUSparseFile.PID/BASE with 0 for the PID.
func sparseName(name string) string {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "./"
	}
	return dir + "GNUSparseFile.0/" + base
}

// errBadRecord is returned by sparseHeader for a header that cannot be
// encoded; the entry is skipped.
var errBadRecord = errors.New("invalid pax record")

// sparseHeader appends to b the pax extended header, the ustar header and
// the map of the sparse entry of h (a regular file of size h.Size) laid
// out as m, and returns it with the size of the entry's content (map and
// data) as the ustar header gives it.
func sparseHeader(b []byte, h *tar.Header, m *sparseMap) ([]byte, int64, error) {
	spmap := m.mapBytes(nil)
	stored := int64(len(spmap)) + m.data()
	name := sparseName(h.Name)
	recs := map[string]string{
		"GNU.sparse.major":    "1",
		"GNU.sparse.minor":    "0",
		"GNU.sparse.name":     h.Name,
		"GNU.sparse.realsize": strconv.FormatInt(m.size, 10),
	}
	for k, v := range h.PAXRecords {
		recs[k] = v
	}
	// What does not fit its ustar field goes into a record, as
	// archive/tar does.
	if !fitsString(name, 100) {
		recs["path"] = name
	}
	if !fitsString(h.Uname, 32) {
		recs["uname"] = h.Uname
	}
	if !fitsString(h.Gname, 32) {
		recs["gname"] = h.Gname
	}
	if !fitsOctal(int64(h.Uid), 8) {
		recs["uid"] = strconv.Itoa(h.Uid)
	}
	if !fitsOctal(int64(h.Gid), 8) {
		recs["gid"] = strconv.Itoa(h.Gid)
	}
	mtime := h.ModTime.Unix()
	if !fitsOctal(mtime, 12) || h.ModTime.Nanosecond() != 0 {
		recs["mtime"] = paxTime(h.ModTime)
	}
	if !fitsOctal(stored, 12) {
		recs["size"] = strconv.FormatInt(stored, 10)
	}
	var data []byte
	for _, k := range slices.Sorted(maps.Keys(recs)) {
		v := recs[k]
		if k == "" || strings.ContainsAny(k, "=\x00") || ((k == "path" || k == "uname" || k == "gname") && strings.IndexByte(v, 0) >= 0) {
			return b, 0, fmt.Errorf("%w %q", errBadRecord, k)
		}
		data = appendPAXRecord(data, k, v)
	}
	if len(data) > maxPAXHeader {
		return b, 0, fmt.Errorf("%w: the pax header would take %d bytes, more than %d", errBadRecord, len(data), maxPAXHeader)
	}
	dir, base := path.Split(h.Name)
	b = appendUSTAR(b, &ustarFields{
		name: dir + "PaxHeaders.0/" + base, mode: 0o644, size: int64(len(data)),
		mtime: max(0, min(mtime, 1<<33-1)), flag: tar.TypeXHeader,
	})
	b = append(b, data...)
	b = padBlock(b, len(data))
	b = appendUSTAR(b, &ustarFields{
		name: name, mode: h.Mode, uid: int64(h.Uid), gid: int64(h.Gid), size: stored,
		mtime: mtime, flag: tar.TypeReg, uname: h.Uname, gname: h.Gname,
	})
	b = append(b, spmap...)
	return b, stored, nil
}

// appendPAXRecord appends "LEN KEY=VALUE\n", where LEN counts the whole
// record, its own digits included.
func appendPAXRecord(b []byte, k, v string) []byte {
	n := len(k) + len(v) + 3 // space, '=', newline
	l := n + len(strconv.Itoa(n))
	if len(strconv.Itoa(l)) > len(strconv.Itoa(n)) {
		l++
	}
	b = strconv.AppendInt(b, int64(l), 10)
	b = append(b, ' ')
	b = append(b, k...)
	b = append(b, '=')
	b = append(b, v...)
	return append(b, '\n')
}

// paxTime formats t as a pax time record: seconds, and the fraction
// without trailing zeros.
func paxTime(t time.Time) string {
	secs, nsecs := t.Unix(), int64(t.Nanosecond())
	if nsecs == 0 {
		return strconv.FormatInt(secs, 10)
	}
	sign := ""
	if secs < 0 {
		// -1.25 is second -2 and 750 ms.
		sign, secs, nsecs = "-", -(secs + 1), 1e9-nsecs
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nsecs), "0")
	return sign + strconv.FormatInt(secs, 10) + "." + frac
}

func fitsString(s string, n int) bool {
	if len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// fitsOctal reports whether v fits a ustar numeric field of n bytes (n-1
// octal digits and a NUL).
func fitsOctal(v int64, n int) bool {
	return v >= 0 && v < int64(1)<<(3*(n-1))
}

// ustarFields are the fields of a ustar header block that daisy sets.
type ustarFields struct {
	name           string
	mode, uid, gid int64
	size, mtime    int64
	flag           byte
	uname, gname   string
}

// appendUSTAR appends the 512-byte ustar header block of f. A field that
// does not fit is left short (a string cut, a number 0): its pax record
// holds the value.
func appendUSTAR(b []byte, f *ustarFields) []byte {
	start := len(b)
	b = append(b, make([]byte, tarBlock)...)
	blk := b[start:]
	str := func(off, n int, s string) {
		if fitsString(s, n) {
			copy(blk[off:off+n], s)
			return
		}
		// ASCII up to the field's size, for tars that read no pax
		// records.
		j := 0
		for i := 0; i < len(s) && j < n; i++ {
			if c := s[i]; c != 0 && c < 0x80 {
				blk[off+j] = c
				j++
			}
		}
	}
	num := func(off, n int, v int64) {
		if !fitsOctal(v, n) {
			v = 0
		}
		s := strconv.FormatInt(v, 8)
		field := blk[off : off+n-1]
		for i := range field {
			field[i] = '0'
		}
		copy(field[len(field)-len(s):], s)
	}
	str(0, 100, f.name)
	num(100, 8, f.mode)
	num(108, 8, f.uid)
	num(116, 8, f.gid)
	num(124, 12, f.size)
	num(136, 12, f.mtime)
	blk[156] = f.flag
	copy(blk[257:], "ustar\x0000")
	str(265, 32, f.uname)
	str(297, 32, f.gname)
	// The checksum: the sum of the block's bytes with its own field as
	// spaces, in six octal digits, a NUL and a space.
	copy(blk[148:156], "        ")
	var sum int64
	for _, c := range blk {
		sum += int64(c)
	}
	s := strconv.FormatInt(sum, 8)
	copy(blk[148:154], strings.Repeat("0", 6-len(s))+s)
	blk[154], blk[155] = 0, ' '
	return b
}

// sparseData writes the data regions of m, read from fd, then the padding
// of the entry (whose content is stored bytes). A file that shrank while
// it was read is padded with zeros; one that changed size is reported as
// the plain path does.
func (a *archiver) sparseData(fd int, full string, m *sparseMap, stored int64) error {
	var rerr error
	var rerrAt int64
	short := false
	for _, r := range m.regions {
		for pos := r.off; pos < r.end; {
			want := min(int64(len(a.buf)), r.end-pos)
			if rerr == nil && !short {
				n, err := unix.Pread(fd, a.buf[:want], pos)
				if err == unix.EINTR {
					continue
				}
				switch {
				case err != nil:
					rerr, rerrAt = err, pos
				case n == 0:
					short = true
				default:
					if _, err := a.cw.Write(a.buf[:n]); err != nil {
						return a.writeErr(err)
					}
					pos += int64(n)
				}
				if rerr == nil && !short {
					continue
				}
				clear(a.buf)
			}
			if _, err := a.cw.Write(a.buf[:want]); err != nil {
				return a.writeErr(err)
			}
			pos += want
		}
	}
	if r := stored % tarBlock; r != 0 {
		if _, err := a.cw.Write(zeroPad[:tarBlock-r]); err != nil {
			return a.writeErr(err)
		}
	}
	if rerr != nil {
		a.report(full, fmt.Errorf("read error at offset %d of %d bytes, rest padded with zeros: %w", rerrAt, m.size, rerr))
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		switch {
		case short || st.Size < m.size:
			a.report(full, fmt.Errorf("%w: shrank from %d to %d bytes, padded with zeros", ErrFileChanged, m.size, st.Size))
		case st.Size > m.size:
			a.report(full, fmt.Errorf("%w: grew beyond %d bytes, truncated", ErrFileChanged, m.size))
		}
	}
	return nil
}

// writeSparseHeader writes the headers and the map of the sparse entry of h
// (a.sparse) between entries of the tar writer, which has flushed the
// previous one.
func (a *archiver) writeSparseHeader(h *tar.Header) error {
	if err := a.tw.Flush(); err != nil {
		return err
	}
	b, stored, err := sparseHeader(a.hbuf[:0], h, a.sparse)
	if err != nil {
		return err
	}
	if cap(b) <= 64<<10 {
		a.hbuf = b // kept for the next one, unless a large map grew it
	}
	a.sparseStored = stored
	_, err = a.cw.Write(b)
	return err
}
