package jobs

import (
	"fmt"
	"iter"
)

// selSource gives the selected entries of one object of a restore, in
// stream order, as the catalog's query yields them: a restore of an
// object of a million entries holds its position in the query, not the
// list. It is used by one goroutine at a time; close ends the query.
type selSource struct {
	next  func() (selected, error, bool)
	stop  func()
	cur   selected
	have  bool  // cur is the entry peek returns
	done  bool  // the query ended
	err   error // how it ended, if it failed
	taken int64 // entries advanced past
}

// newSelSource runs pick lazily: each entry it gives fn is handed out by
// peek and advance, and pick goes on only when the next one is wanted.
func newSelSource(pick func(fn func(selected) error) error) *selSource {
	seq := func(yield func(selected, error) bool) {
		err := pick(func(s selected) error {
			if !yield(s, nil) {
				return errStopEntries
			}
			return nil
		})
		if err != nil && err != errStopEntries {
			yield(selected{}, err)
		}
	}
	next, stop := iter.Pull2(seq)
	return &selSource{next: next, stop: stop}
}

// peek returns the next entry without taking it; false at the end (or on
// an error of the query, which err then returns).
func (s *selSource) peek() (selected, bool) {
	if s.have {
		return s.cur, true
	}
	if s.done {
		return selected{}, false
	}
	v, err, ok := s.next()
	switch {
	case !ok:
		s.done = true
		return selected{}, false
	case err != nil:
		s.done, s.err = true, err
		s.stop()
		return selected{}, false
	}
	s.cur, s.have = v, true
	return v, true
}

// advance takes the entry peek returned.
func (s *selSource) advance() {
	if s.have {
		s.have = false
		s.taken++
	}
}

// close ends the query.
func (s *selSource) close() {
	s.done, s.have = true, false
	s.stop()
}

// end returns how the picking of an object ended: a failed query of the
// catalog's entries, else the entries it listed that were missing.
func (p *picker) end() error {
	if p.src != nil && p.src.err != nil {
		return fmt.Errorf("object %s of %s: the catalog's entries: %w", p.obj.ID, p.obj.Source, p.src.err)
	}
	return missingErr(p)
}
