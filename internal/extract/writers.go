package extract

import (
	"archive/tar"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Parallel file writing. Creating a small file costs the kernel more than
// copying its bytes (an inode, a directory entry, page-cache pages, the
// metadata calls), and a single extracting goroutine spent most of a
// restore's time there while tar -x, doing the same, was no faster. So the
// extractor creates each file itself, in stream order (names, checks,
// replacing an existing entry: everything that decides what the tree
// looks like), reads the content of a file below DirectMin into memory,
// and hands writing it, its owner, mode, extended attributes and mtime
// and closing it to one of writerCount goroutines. At most writerQueue
// files wait (so at most about writerQueue × DirectMin bytes are held).
// Results come back to the extractor, which counts them and reports
// problems from its own goroutine, as for every other entry. Before
// anything that could depend on a file being complete (a hard link to it,
// an entry of the same name, Restored, the end of Extract or ExtractOne,
// Close) the extractor waits for the files in flight.
const (
	writerCount = 3
	writerQueue = 16
)

// writeJob is one file to write and finish.
type writeJob struct {
	f     *os.File
	data  []byte
	name  string
	hdr   *tar.Header
	mode  uint32
	owner bool
	gran  int
}

// writeResult is what a writer did with a job.
type writeResult struct {
	name  string
	bytes int64
	fail  error      // the file could not be written or closed (it was removed)
	warns []warnNote // metadata not applied
}

type warnNote struct {
	what string
	err  error
}

type writers struct {
	jobs chan writeJob
	wg   sync.WaitGroup

	mu      sync.Mutex
	done    []writeResult
	pending int
	cond    *sync.Cond
	// remove deletes a failed file by its name in the target.
	remove func(name string) error
}

func newWriters(remove func(string) error) *writers {
	w := &writers{jobs: make(chan writeJob, writerQueue), remove: remove}
	w.cond = sync.NewCond(&w.mu)
	for range writerCount {
		w.wg.Go(w.run)
	}
	return w
}

func (w *writers) run() {
	for j := range w.jobs {
		r := j.write()
		if r.fail != nil {
			_ = w.remove(j.name)
		}
		w.mu.Lock()
		w.done = append(w.done, r)
		w.pending--
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// submit queues j (waiting while the queue is full).
func (w *writers) submit(j writeJob) {
	w.mu.Lock()
	w.pending++
	w.mu.Unlock()
	w.jobs <- j
}

// take returns the results so far; with wait, after every submitted job
// is done.
func (w *writers) take(wait bool) []writeResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wait && w.pending > 0 {
		w.cond.Wait()
	}
	r := w.done
	w.done = nil
	return r
}

// stop ends the writers after the jobs queued.
func (w *writers) stop() {
	close(w.jobs)
	w.wg.Wait()
}

func (j *writeJob) write() writeResult {
	r := writeResult{name: j.name, bytes: int64(len(j.data))}
	fail := func(err error) writeResult {
		j.f.Close()
		r.fail = err
		return r
	}
	end, err := writeSparse(j.f, j.data, 0, j.gran)
	if err != nil {
		return fail(err)
	}
	if n := int64(len(j.data)); n > end {
		// Trailing zeros were not written: set the size.
		if err := j.f.Truncate(n); err != nil {
			return fail(err)
		}
	}
	fd := int(j.f.Fd())
	if j.owner {
		if err := unix.Fchown(fd, j.hdr.Uid, j.hdr.Gid); err != nil {
			r.warns = append(r.warns, warnNote{"setting owner", err})
		}
	}
	// After chown, which clears setuid/setgid.
	if err := unix.Fchmod(fd, j.mode); err != nil {
		r.warns = append(r.warns, warnNote{"setting mode", err})
	}
	for _, xa := range xattrs(j.hdr) {
		if err := unix.Fsetxattr(fd, xa.name, []byte(xa.value), 0); err != nil {
			r.warns = append(r.warns, warnNote{"setting extended attribute " + strconv.Quote(xa.name), err})
		}
	}
	if err := futimens(fd, j.hdr.ModTime); err != nil {
		r.warns = append(r.warns, warnNote{"setting mtime", err})
	}
	if err := j.f.Close(); err != nil {
		r.fail = err
	}
	return r
}

// futimens sets the access and modification times of the open file fd to
// t, to the nanosecond (utimensat with a NULL path, which x/sys/unix does
// not offer).
func futimens(fd int, t time.Time) error {
	ts, err := unix.TimeToTimespec(t)
	if err != nil {
		return err
	}
	times := [2]unix.Timespec{ts, ts}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&times[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
