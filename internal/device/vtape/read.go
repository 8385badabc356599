package vtape

import (
	"encoding/binary"
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The read side of a volume file beyond ReadBlock: finding the block size
// of a volume whose label block is damaged, and the holes of a sparse
// volume file.

// probeStep is the step of the block sizes tried: daisy's block sizes are
// multiples of 64 KiB.
const probeStep = 64 << 10

// blockAt reports whether the file holds, at block k of blocks of bs bytes,
// a daisy block header that says it is block k of a volume of blocks of bs
// bytes (magic, block number and block size fields; the CRC is the volume
// reader's to check).
func blockAt(f *os.File, bs, k, size int64) bool {
	var h [labelHeaderLen]byte
	if k*bs+labelHeaderLen > size {
		return false
	}
	if n, _ := f.ReadAt(h[:], k*bs); n != len(h) {
		return false
	}
	return string(h[:4]) == labelMagic && binary.LittleEndian.Uint64(h[24:]) == uint64(k) &&
		int64(binary.LittleEndian.Uint32(h[labelSizeField:])) == bs
}

// probeBlockSize finds the block size of a volume file from the headers of
// its blocks 1 and 2, for a label block that does not give it (damaged):
// the block size bs for which the header at byte k×bs says it is block k
// of blocks of bs bytes. 0 if there is none.
func probeBlockSize(f *os.File, size int64) int64 {
	for k := int64(1); k <= 2; k++ {
		for bs := int64(probeStep); bs <= MaxBlockSize && k*bs+labelHeaderLen <= size; bs += probeStep {
			if blockAt(f, bs, k, size) {
				return bs
			}
		}
	}
	return 0
}

// NextData returns the first block at or after block n that holds data:
// n itself, unless block n lies wholly in a hole of the volume file (a run
// of it never written, which reads as zeros); Blocks() when only holes
// follow. It asks the file system (SEEK_DATA) and reads nothing; where the
// file system does not know holes, it returns n. Volume readers use it to
// skip the holes of a sparse volume file instead of reading their zeros.
func (m *Medium) NextData(n int64) (int64, error) {
	if m.closed {
		return n, m.errf("seek", "%w", os.ErrClosed)
	}
	off := n * m.bs
	if n < 0 || off >= m.size {
		return max(n, 0), nil
	}
	d, err := m.f.Seek(off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, syscall.ENXIO): // no data at or after off
		return m.Blocks(), nil
	case err != nil: // SEEK_DATA not supported: no holes known
		return n, nil
	case d >= m.size:
		return m.Blocks(), nil
	}
	return max(n, d/m.bs), nil
}
