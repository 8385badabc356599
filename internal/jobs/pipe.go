package jobs

import (
	"fmt"
	"io"
	"sync"
)

// bufferedPipe connects a writer goroutine to a reader goroutine as
// io.Pipe does, but with up to chunks × chunkSize bytes in flight, so that
// the two run at the same time instead of taking turns: reading and
// checking an object stream and extracting it each take about half of a
// restore's time. Memory is bounded by its size, whatever the data.
//
// A range of the stream that could not be read is passed on in its place
// (Lost): the reader gets a *rangeLost error there, once, and then the data
// after the range.
type bufferedPipe struct {
	ch   chan pipeItem
	free sync.Pool
	size int

	mu   sync.Mutex
	rerr error // set by CloseRead: writes fail with it
	werr error // set by CloseWrite: reads end with it after the data
	done chan struct{}
	once sync.Once

	cur []byte // being read
	buf []byte // the chunk cur came from, returned to free when used
}

// pipeItem is a chunk of data or a lost range.
type pipeItem struct {
	b    []byte
	lost *LostRange
}

// rangeLost is what a read of the pipe returns where a range was lost.
type rangeLost struct{ r LostRange }

func (e *rangeLost) Error() string {
	return fmt.Sprintf("bytes %d to %d of the object could not be read: %s", e.r.From, e.r.To, e.r.Error)
}

func newBufferedPipe(chunks, chunkSize int) *bufferedPipe {
	p := &bufferedPipe{ch: make(chan pipeItem, chunks), size: chunkSize, done: make(chan struct{})}
	p.free.New = func() any { b := make([]byte, chunkSize); return &b }
	return p
}

// Write copies b into chunks and queues them; it blocks while the pipe is
// full and fails once the reader closed.
func (p *bufferedPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		cp := p.free.Get().(*[]byte)
		c := copy((*cp)[:p.size], b)
		if err := p.send(pipeItem{b: (*cp)[:c]}); err != nil {
			return n, err
		}
		n += c
		b = b[c:]
	}
	return n, nil
}

// Lost queues a lost range after the data written so far.
func (p *bufferedPipe) Lost(r LostRange) error {
	return p.send(pipeItem{lost: &r})
}

func (p *bufferedPipe) send(it pipeItem) error {
	select {
	case p.ch <- it:
		return nil
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.rerr
	}
}

// CloseWrite ends the stream: the reader gets err (io.EOF when nil) after
// the data queued.
func (p *bufferedPipe) CloseWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	p.werr = err
	p.mu.Unlock()
	close(p.ch)
}

// CloseRead makes pending and later writes fail with err.
func (p *bufferedPipe) CloseRead(err error) {
	if err == nil {
		err = io.ErrClosedPipe
	}
	p.mu.Lock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.mu.Unlock()
	p.once.Do(func() { close(p.done) })
}

// Read returns queued data, then the writer's error.
func (p *bufferedPipe) Read(b []byte) (int, error) {
	if len(p.cur) == 0 {
		if p.buf != nil {
			buf := p.buf[:cap(p.buf)]
			p.free.Put(&buf)
			p.buf = nil
		}
		it, ok := <-p.ch
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			return 0, p.werr
		}
		if it.lost != nil {
			return 0, &rangeLost{*it.lost}
		}
		p.cur, p.buf = it.b, it.b
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}
