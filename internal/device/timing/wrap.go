package timing

import (
	"sync"
	"time"

	"daisy/internal/device"
)

// Recorder is a Drive fed with the real times of what happens on the
// media it wraps: the time since the recorder was made is the drive's
// clock. Data arriving faster than the modelled drive takes it is taken
// as arriving when the drive has room (the host would have waited), so
// the model's clock can run ahead of the real one. It is safe for
// concurrent use; a device's volumes are mounted one after the other on
// its one Recorder.
type Recorder struct {
	mu     sync.Mutex
	d      *Drive
	origin time.Time
}

// NewRecorder returns a recorder whose clock starts now.
func NewRecorder(p Params) *Recorder {
	return &Recorder{d: NewDrive(p), origin: time.Now()}
}

// Stats returns the drive's counters so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d.Stats()
}

func (r *Recorder) do(f func(d *Drive, now time.Duration)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.d, time.Since(r.origin))
}

// Wrap returns m as mounted on the modelled drive: the mount loads a
// cartridge, each block written or read, each Locate and Sync (and the
// Close, which writes out the drive's buffer) advance the model. The
// medium's own behaviour is unchanged, its optional Locator and Truncater
// included.
func (r *Recorder) Wrap(m device.Medium) device.Medium {
	r.do(func(d *Drive, now time.Duration) { d.Load(now) })
	w := &medium{Medium: m, r: r}
	_, loc := m.(device.Locator)
	_, trunc := m.(device.Truncater)
	switch {
	case loc && trunc:
		return &locTruncMedium{w}
	case loc:
		return &locMedium{w}
	case trunc:
		return &truncMedium{w}
	}
	return w
}

type medium struct {
	device.Medium
	r *Recorder
}

func (m *medium) WriteBlock(b []byte) error {
	err := m.Medium.WriteBlock(b)
	if err == nil {
		m.r.do(func(d *Drive, now time.Duration) { d.Write(now, len(b)) })
	}
	return err
}

func (m *medium) ReadBlock(b []byte) error {
	err := m.Medium.ReadBlock(b)
	if err == nil {
		m.r.do(func(d *Drive, now time.Duration) { d.Read(now, len(b)) })
	}
	return err
}

func (m *medium) Sync() error {
	m.r.do(func(d *Drive, now time.Duration) { d.Flush(now) })
	return m.Medium.Sync()
}

func (m *medium) Close() error {
	m.r.do(func(d *Drive, now time.Duration) { d.Flush(now) })
	return m.Medium.Close()
}

func (m *medium) locate(n int64) error {
	if n != m.Medium.Position() {
		m.r.do(func(d *Drive, now time.Duration) { d.Locate(now) })
	}
	return m.Medium.(device.Locator).Locate(n)
}

func (m *medium) truncate(n int64) error { return m.Medium.(device.Truncater).Truncate(n) }

type locMedium struct{ *medium }

func (m *locMedium) Locate(n int64) error { return m.locate(n) }

type truncMedium struct{ *medium }

func (m *truncMedium) Truncate(n int64) error { return m.truncate(n) }

type locTruncMedium struct{ *medium }

func (m *locTruncMedium) Locate(n int64) error   { return m.locate(n) }
func (m *locTruncMedium) Truncate(n int64) error { return m.truncate(n) }
