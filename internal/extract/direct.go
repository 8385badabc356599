package extract

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct writes. The content of a large file is written with O_DIRECT: it
// goes from daisy's buffer to the disk without passing through the page
// cache. A restore of many gigabytes then neither evicts what the host
// keeps cached nor pays for filling the cache with pages nobody reads again
// (on a VM whose freed memory was handed back to its host, touching new
// page-cache pages costs more system time than the copy itself, see
// docs/BENCHMARKS.md), and the data is on the disk when the write returns.
// Small files, and the unaligned tail of a large one, are written through
// the page cache as before. A filesystem that refuses O_DIRECT (tmpfs, some
// FUSE file systems) gets buffered writes for the rest of the session.
const (
	// DirectMin is the size from which a file's content is written with
	// O_DIRECT (when Options.Buffered is false).
	DirectMin = 1 << 20
	// directAlign is the alignment O_DIRECT asks of buffers, file offsets
	// and lengths: the logical block size of the device, at most 4 KiB on
	// the disks daisy restores to. A write the file system refuses for its
	// alignment falls back to a buffered write.
	directAlign = 4 << 10
)

// copyBuffer is a copy buffer whose first byte is aligned for O_DIRECT.
type copyBuffer struct {
	mem [bufferSize + directAlign]byte
}

// aligned returns the bufferSize bytes of b that start at an address
// aligned to directAlign.
func (b *copyBuffer) aligned() []byte {
	off := int(uintptr(unsafe.Pointer(&b.mem[0])) % directAlign)
	if off != 0 {
		off = directAlign - off
	}
	return b.mem[off : off+bufferSize : off+bufferSize]
}

// fileWriter writes the content of one file, directly (O_DIRECT) while the
// offsets and lengths allow it, then through the page cache.
type fileWriter struct {
	f      *os.File
	direct bool
	// directBytes counts the bytes written with O_DIRECT.
	directBytes int64
	// refused is set when the file system refused O_DIRECT: the session
	// writes buffered from then on.
	refused *bool
}

// newFileWriter returns the writer of f; direct asks for O_DIRECT, which is
// used if the file system accepts it.
func newFileWriter(f *os.File, direct bool, refused *bool) *fileWriter {
	w := &fileWriter{f: f, refused: refused}
	if direct && !*refused {
		if err := setDirect(int(f.Fd()), true); err == nil {
			w.direct = true
		} else {
			*refused = true
		}
	}
	return w
}

// setDirect turns O_DIRECT on or off for the open file fd; writeDirect
// writes with O_DIRECT on. Tests replace them to play a file system that
// refuses O_DIRECT or its alignments.
var (
	setDirect   = fcntlDirect
	writeDirect = (*os.File).WriteAt
)

func fcntlDirect(fd int, on bool) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
	return err
}

// buffered turns O_DIRECT off for the rest of the file.
func (w *fileWriter) buffered() error {
	w.direct = false
	return setDirect(int(w.f.Fd()), false)
}

// WriteAt writes p at off. Direct writes need p's address, off and len(p)
// aligned: an aligned head is written directly, the rest through the page
// cache (which happens once per file, at its end: every other run starts
// and ends on a hole-block boundary of a buffer-aligned offset).
func (w *fileWriter) WriteAt(p []byte, off int64) (int, error) {
	if !w.direct {
		return w.f.WriteAt(p, off)
	}
	if off%directAlign != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign != 0 {
		if err := w.buffered(); err != nil {
			return 0, err
		}
		return w.f.WriteAt(p, off)
	}
	head := len(p) - len(p)%directAlign
	n := 0
	if head > 0 {
		m, err := writeDirect(w.f, p[:head], off)
		n += m
		w.directBytes += int64(m)
		if errors.Is(err, unix.EINVAL) && m == 0 {
			// The file system wants other alignments: buffered from here.
			*w.refused = true
			if err := w.buffered(); err != nil {
				return n, err
			}
			m, err := w.f.WriteAt(p, off)
			return n + m, err
		}
		if err != nil {
			return n, err
		}
	}
	if head < len(p) {
		if err := w.buffered(); err != nil {
			return n, err
		}
		m, err := w.f.WriteAt(p[head:], off+int64(head))
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
