// Package buffers implements the patent's buffer memories: bounded FIFOs of
// records that can be daisy-chained.
//
// A Buffer has one producer (an agent's stream, or the buffer before it in
// its chain) and any number of consumers, each reading every record in
// order through its own Cursor: the buffer's media agent, and a Forwarder
// to the next buffer of the chain. A record counts against the buffer's
// capacity with the memory it takes (records.Record.Footprint, not its
// encoded length: a small compressed record is not counted as small if it
// takes a full record's memory), until every attached consumer has
// acknowledged it. Chained buffers share the record by reference (its
// reference count), never by copy.
//
// Backpressure: Push blocks while the buffer is full, so a chain moves at
// the pace of its slowest consumer. A consumer that fails Detaches: its
// records are released and the rest of the chain goes on.
package buffers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"daisy/internal/records"
)

// ErrNoConsumers is returned by Push when every consumer has detached:
// nobody will ever read the record.
var ErrNoConsumers = errors.New("buffers: every consumer detached")

// Buffer is a bounded FIFO of records with several consumers. It is safe
// for concurrent use by its producer and its consumers.
type Buffer struct {
	name     string
	capacity int64

	mu      sync.Mutex
	q       []*records.Record // q[0] has absolute index base
	base    uint64
	used    int64
	peak    int64
	pushed  uint64
	bytesIn int64
	cursors []*Cursor
	closed  bool
	err     error         // set by Fail: consumers see it after the queued records
	space   chan struct{} // signalled when records are released
	sealed  bool          // no more consumers may attach
}

// New returns a buffer that holds records taking at most capacity bytes of
// memory (a single record larger than that is still accepted into an empty
// buffer).
func New(name string, capacity int64) *Buffer {
	return &Buffer{name: name, capacity: capacity, space: make(chan struct{}, 1)}
}

// Name returns the buffer's name, e.g. "BMA124.B2".
func (b *Buffer) Name() string { return b.name }

// Capacity returns the configured size in bytes.
func (b *Buffer) Capacity() int64 { return b.capacity }

// Stats is a snapshot of a buffer's fill.
type Stats struct {
	Used, Peak, Capacity int64  // memory of the records held (Footprint)
	Records              uint64 // pushed so far
	Bytes                int64  // encoded bytes pushed so far
}

// Stats returns the buffer's current fill and totals.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Used: b.used, Peak: b.peak, Capacity: b.capacity, Records: b.pushed, Bytes: b.bytesIn}
}

// Attach adds a consumer that will read every record pushed from now on.
// notify, if not nil, receives a value (without blocking) whenever the
// cursor may have something new; several cursors may share one channel.
// All consumers must attach before the first Push.
func (b *Buffer) Attach(name string, notify chan struct{}) *Cursor {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		panic(fmt.Sprintf("buffers: %s: consumer %s attached after the first push", b.name, name))
	}
	if notify == nil {
		notify = make(chan struct{}, 1)
	}
	c := &Cursor{b: b, name: name, notify: notify, next: b.base, acked: b.base}
	b.cursors = append(b.cursors, c)
	return c
}

// Push appends r, taking over the caller's reference. It blocks while the
// buffer is full, until ctx is done. It fails with ErrNoConsumers when
// every consumer has detached (r is released).
func (b *Buffer) Push(ctx context.Context, r *records.Record) error {
	n := r.Footprint()
	for {
		b.mu.Lock()
		b.sealed = true
		if b.closed {
			b.mu.Unlock()
			r.Release()
			return fmt.Errorf("buffers: %s: push after close", b.name)
		}
		if b.attachedLocked() == 0 {
			b.mu.Unlock()
			r.Release()
			return fmt.Errorf("%w: %s", ErrNoConsumers, b.name)
		}
		if b.used == 0 || b.used+n <= b.capacity {
			b.q = append(b.q, r)
			b.used += n
			b.peak = max(b.peak, b.used)
			b.pushed++
			b.bytesIn += int64(r.Len())
			b.wakeLocked()
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		select {
		case <-b.space:
		case <-ctx.Done():
			r.Release()
			return ctx.Err()
		}
	}
}

// Close ends the stream: consumers see io.EOF-like completion (ok=false,
// err=nil) after the queued records.
func (b *Buffer) Close() { b.finish(nil) }

// Fail ends the stream with an error that consumers see after the queued
// records (the producer broke off, e.g. a client disconnected).
func (b *Buffer) Fail(err error) { b.finish(err) }

func (b *Buffer) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.sealed = true
	b.closed = true
	b.err = err
	b.wakeLocked()
}

func (b *Buffer) attachedLocked() int {
	n := 0
	for _, c := range b.cursors {
		if !c.detached {
			n++
		}
	}
	return n
}

func (b *Buffer) wakeLocked() {
	for _, c := range b.cursors {
		if !c.detached {
			select {
			case c.notify <- struct{}{}:
			default:
			}
		}
	}
}

// releaseLocked drops the records every attached consumer has acknowledged.
func (b *Buffer) releaseLocked() {
	low := b.base + uint64(len(b.q))
	for _, c := range b.cursors {
		if !c.detached && c.acked < low {
			low = c.acked
		}
	}
	freed := false
	for b.base < low {
		r := b.q[0]
		b.q[0] = nil
		b.q = b.q[1:]
		b.base++
		b.used -= r.Footprint()
		r.Release()
		freed = true
	}
	if len(b.q) == 0 {
		b.q = b.q[:0:0]
	}
	if freed {
		select {
		case b.space <- struct{}{}:
		default:
		}
	}
}

// Cursor is one consumer's position in a buffer. It is used by one
// goroutine.
type Cursor struct {
	b        *Buffer
	name     string
	notify   chan struct{}
	next     uint64 // absolute index of the next record to take
	acked    uint64 // records before this index are acknowledged
	detached bool
}

// Buffer returns the buffer the cursor reads.
func (c *Cursor) Buffer() *Buffer { return c.b }

// Notify returns the channel that signals new records.
func (c *Cursor) Notify() <-chan struct{} { return c.notify }

// State says what TryNext found.
type State int

const (
	Ready State = iota // a record was returned
	Empty              // nothing queued now; more may come
	Done               // the stream ended (see Err)
)

// TryNext returns the next record without blocking. The record stays valid
// until the cursor Acks it; the consumer must not Release it.
func (c *Cursor) TryNext() (*records.Record, State) {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.detached {
		return nil, Done
	}
	if i := c.next - b.base; i < uint64(len(b.q)) {
		c.next++
		return b.q[i], Ready
	}
	if b.closed {
		return nil, Done
	}
	return nil, Empty
}

// Next returns the next record, waiting for one. ok is false when the
// stream ended (Err tells whether it ended in failure) or ctx is done.
func (c *Cursor) Next(ctx context.Context) (*records.Record, bool) {
	for {
		r, st := c.TryNext()
		switch st {
		case Ready:
			return r, true
		case Done:
			return nil, false
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// Err returns the producer's failure once the stream is Done (nil after a
// clean Close).
func (c *Cursor) Err() error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.b.err
}

// Ack acknowledges every record taken so far: the consumer is done with
// them.
func (c *Cursor) Ack() {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.detached || c.acked == c.next {
		return
	}
	c.acked = c.next
	b.releaseLocked()
}

// Detach removes the consumer: records it has not acknowledged no longer
// wait for it. A media agent whose device failed detaches so that the
// chain goes on.
func (c *Cursor) Detach() {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.detached {
		return
	}
	c.detached = true
	b.releaseLocked()
}

// Forward copies, by reference, every record of cur into next (the next
// buffer of a chain) and closes or fails next when cur's stream ends. It
// returns when the stream ended or ctx is done. If next has no consumers
// left, Forward detaches from cur and drains nothing more.
func Forward(ctx context.Context, cur *Cursor, next *Buffer) {
	for {
		r, ok := cur.Next(ctx)
		if !ok {
			if err := cur.Err(); err != nil {
				next.Fail(err)
			} else if ctx.Err() != nil {
				next.Fail(ctx.Err())
			} else {
				next.Close()
			}
			return
		}
		r.Retain(1)
		if err := next.Push(ctx, r); err != nil {
			cur.Detach()
			next.Fail(err)
			return
		}
		cur.Ack()
	}
}
