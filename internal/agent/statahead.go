package agent

import (
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"
)

// A directory's regular files are stat'ed (and their extended attributes
// counted) by a second goroutine, a bounded number of entries ahead of the
// one writing the archive, so that the two system calls each file costs
// overlap with the formatting and hashing of the entries before it: with
// many small files the walk, not the devices, is what limits a backup.
// A file is still opened and fstat'ed before its content is read; the
// stat taken ahead only decides whether an empty or unchanged file can be
// written, or left out, without opening it.

// stated is what statAhead found for one entry.
type stated struct {
	st    unix.Stat_t
	err   error
	xsize int // bytes of the extended attribute name list, -1 unknown
}

// aheadRing bounds how far ahead the stat goroutine runs (entries); the
// ring of results holds twice as many.
const aheadRing = 512

// minStatAhead is the smallest directory worth a goroutine.
const minStatAhead = 32

type statAheader struct {
	res  []stated
	idx  chan int
	done chan struct{}
	wg   sync.WaitGroup
	next int // the index get waits for next
}

// statAhead starts stat'ing the regular files of ents (entries of the
// directory open as dfd, which must stay open until stop returns).
func (a *archiver) statAhead(dfd int, dir string, ents []fs.DirEntry) *statAheader {
	if len(ents) < minStatAhead {
		return nil
	}
	s := &statAheader{res: make([]stated, 2*aheadRing), idx: make(chan int, aheadRing), done: make(chan struct{})}
	s.wg.Go(func() {
		for i, e := range ents {
			if e.Type() == 0 {
				r := &s.res[i%len(s.res)]
				name := e.Name()
				r.err = unix.Fstatat(dfd, name, &r.st, unix.AT_SYMLINK_NOFOLLOW)
				r.xsize = -1
				if r.err == nil && r.st.Mode&unix.S_IFMT == unix.S_IFREG && r.st.Size == 0 {
					// Only empty files are written without being
					// opened; the others list their attributes through
					// the descriptor they are read with.
					if n, err := unix.Llistxattr(join(dir, name), nil); err == nil {
						r.xsize = n
					}
				}
			}
			select {
			case s.idx <- i:
			case <-s.done:
				return
			}
		}
	})
	return s
}

// get returns what was found for entry i, meaningful only when it is a
// regular file; nil without a stat goroutine. Entries are asked for in
// order.
func (s *statAheader) get(i int) *stated {
	if s == nil {
		return nil
	}
	for s.next <= i {
		j, ok := <-s.idx
		if !ok {
			return nil
		}
		s.next = j + 1
	}
	return &s.res[i%len(s.res)]
}

// stop ends the goroutine and waits for it.
func (s *statAheader) stop() {
	if s == nil {
		return
	}
	close(s.done)
	s.wg.Wait()
}
