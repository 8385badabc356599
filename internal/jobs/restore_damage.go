package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"daisy/internal/catalog"
	"daisy/internal/extract"
)

// Damage in a restore costs only what it touched. A range of an object
// that no copy can give is passed to the extractor in place of its bytes
// (bufferedPipe.Lost); the extractor stops at the entry it cut, the
// catalog says which entries start before the next one after the range,
// and extraction goes on there. The entries lost are listed; the others
// are restored. The catalog is checked on the way: an entry it lists that
// the stream does not have where it says, and an object whose entries do
// not add up to the count it recorded, are missing entries, and fail the
// restore.

// LostEntry is an entry a restore could not restore because its bytes
// could not be read from any copy.
type LostEntry struct {
	Object string `json:"object"`
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
}

// ObjectRange is a byte range of an object that no copy could give.
type ObjectRange struct {
	Object string `json:"object"`
	LostRange
}

// errStopEntries ends the walk of the catalog's entries.
var errStopEntries = errors.New("stop")

// entriesFrom returns the entries of obj that start in [from, to), and the
// offset of the first entry at or after to (-1 if none).
func entriesFrom(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, from, to int64) ([]catalog.File, int64, error) {
	var in []catalog.File
	next := int64(-1)
	err := cat.ChainEntries(ctx, []catalog.Object{obj}, 0, func(f catalog.File) error {
		switch {
		case f.Offset >= to:
			next = f.Offset
			return errStopEntries
		case f.Offset >= from:
			in = append(in, f)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopEntries) {
		return nil, -1, err
	}
	return in, next, nil
}

// picker picks the selected entries of an object as the stream goes by,
// and tells which were found, lost or missing.
type picker struct {
	obj     catalog.Object
	src     *selSource // nil: all entries
	found   int
	cur     *selected // the last entry kept
	lost    []LostEntry
	missing []string
}

// keep is the extractor's keep function.
func (p *picker) keep(off int64, name string) bool {
	s, ok := p.src.peek()
	for ; ok && s.off < off; s, ok = p.src.peek() {
		p.miss(s, "")
		p.src.advance()
	}
	if !ok || s.off != off {
		return false
	}
	p.src.advance()
	p.cur = &s
	if strings.TrimSuffix(strings.TrimPrefix(s.path, "/"), "/") != strings.TrimSuffix(name, "/") {
		p.miss(s, fmt.Sprintf("the stream has %q there", name))
		return false
	}
	p.found++
	return true
}

func (p *picker) miss(s selected, why string) {
	if why == "" {
		why = "no entry starts there in the stream"
	}
	if len(p.missing) < 1000 {
		p.missing = append(p.missing, fmt.Sprintf("%s (object %s, offset %d): %s", s.path, p.obj.ID, s.off, why))
	}
}

// lose records the entries that start before next (after cut): those of
// the catalog's list in files, or the selected ones.
func (p *picker) lose(files []catalog.File, cut, next int64) {
	if p.src == nil {
		for _, f := range files {
			p.lost = append(p.lost, LostEntry{Object: p.obj.ID, Path: f.Path, Offset: f.Offset})
		}
		return
	}
	if p.cur != nil && p.cur.off >= cut {
		// Kept, then cut.
		p.lost = append(p.lost, LostEntry{Object: p.obj.ID, Path: p.cur.path, Offset: p.cur.off})
		p.found--
		p.cur = nil
	}
	for s, ok := p.src.peek(); ok && (next < 0 || s.off < next); s, ok = p.src.peek() {
		p.lost = append(p.lost, LostEntry{Object: p.obj.ID, Path: s.path, Offset: s.off})
		p.src.advance()
	}
}

// finish reports the selected entries never reached as missing.
func (p *picker) finish() {
	if p.src == nil {
		return
	}
	for s, ok := p.src.peek(); ok; s, ok = p.src.peek() {
		p.miss(s, "")
		p.src.advance()
	}
}

// extractLossy extracts the object stream from pipe into sess, going on
// after each lost range at the next entry the catalog lists after it.
func extractLossy(ctx context.Context, cat *catalog.Catalog, obj catalog.Object, sess *extract.Session, pipe *bufferedPipe, p *picker) error {
	var keep func(int64, string) bool
	if p.src != nil {
		keep = p.keep
	}
	base := int64(0)
	for {
		err := sess.Extract(ctx, pipe, base, keep)
		if err == nil {
			// Drain what the stream has after the archive's end so that
			// its hash is still checked.
			return drainLossy(pipe)
		}
		var rl *rangeLost
		if !errors.As(err, &rl) {
			return err
		}
		cut, ok := extract.CutAt(err)
		if !ok {
			cut = rl.r.From
		}
		pos := rl.r.To
		for {
			files, next, err := entriesFrom(ctx, cat, obj, cut, pos)
			if err != nil {
				return err
			}
			if next < 0 && p.src == nil && len(files) == 0 && cut < obj.Length-emptyTarLength {
				has, err := cat.HasFiles(ctx, obj.ID)
				if err != nil {
					return err
				}
				if !has {
					p.lost = append(p.lost, LostEntry{Object: obj.ID, Path: fmt.Sprintf("(every entry from offset %d on: the catalog has no file list of the object to go on after the damage)", cut), Offset: cut})
				}
			}
			p.lose(files, cut, next)
			if next < 0 {
				return drainLossy(pipe)
			}
			n, err := io.CopyN(io.Discard, pipe, next-pos)
			if errors.As(err, &rl) {
				// Another lost range before the entry: on after it.
				cut, pos = pos+n, rl.r.To
				continue
			}
			if err != nil {
				return err
			}
			base = next
			break
		}
	}
}

// drainLossy reads the pipe to its end, over lost ranges.
func drainLossy(pipe *bufferedPipe) error {
	for {
		_, err := io.Copy(io.Discard, pipe)
		var rl *rangeLost
		if !errors.As(err, &rl) {
			return err
		}
	}
}
