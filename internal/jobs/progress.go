package jobs

import "sync/atomic"

// Progress counts what a restore, verify or copy job has done against a
// total the catalog gave before any data moved (object lengths), so that a
// display can show a percentage and an estimate of the time left. The
// counters are atomic: read them from any goroutine. Done may pass Total
// slightly where a job reads more than the object bytes (block headers, a
// copy fallen back to).
type Progress struct {
	Job   string       // "restore", "verify", "copy", …
	Total atomic.Int64 // bytes the job expects to handle
	Done  atomic.Int64 // bytes handled so far
	Ended atomic.Bool  // the job has finished
}

// startProgress makes the job's Progress with its total and hands it to
// fn (if set); it returns nil when there is nobody to tell.
func startProgress(fn func(*Progress), job string, total int64) *Progress {
	if fn == nil {
		return nil
	}
	p := &Progress{Job: job}
	p.Total.Store(total)
	fn(p)
	return p
}

// add counts n bytes done; a nil Progress counts nothing.
func (p *Progress) add(n int64) {
	if p != nil && n != 0 {
		p.Done.Add(n)
	}
}

// addTotal corrects the total by n (a job that learns it reads less).
func (p *Progress) addTotal(n int64) {
	if p != nil && n != 0 {
		p.Total.Add(n)
	}
}

// end marks the job finished.
func (p *Progress) end() {
	if p != nil {
		p.Ended.Store(true)
	}
}

// progressWriter counts what passes through it.
type progressWriter struct {
	w interface{ Write([]byte) (int, error) }
	p *Progress
}

func (pw progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.add(int64(n))
	return n, err
}
