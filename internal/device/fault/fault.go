// Package fault is a test wrapper around any device library: the media it
// mounts fail their writes once a number of bytes has been written
// through them, as a drive that breaks down mid-backup does. One Fault is
// shared by every medium of a device, so a failed drive stays failed when
// the next volume is mounted.
//
// It is for tests only. Product code never imports it; tests reach the
// libraries the product builds through the registry's hook:
//
//	f := &fault.Fault{After: 3 << 20}
//	defer devices.SetTestWrap(fault.Device("R5", f))()
//
// The wrapper passes the optional interfaces through: a wrapped medium is
// a device.Locator or device.Truncater (or reports holes) exactly when the
// medium inside is, and device.As finds a wrapped library's Space or
// Reclaimer.
package fault

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"daisy/internal/config"
	"daisy/internal/device"
)

// Fault fails writes: once After bytes have been written through the
// media sharing it, every write fails with an I/O error that wraps
// device.ErrInjected (and syscall.EIO). A write that would go past After
// fails and writes nothing. After 0 arms nothing: writes are only
// counted. It is safe for concurrent use.
type Fault struct {
	// After is the number of bytes written before writes fail; 0 means
	// never.
	After int64

	written atomic.Int64
	tripped atomic.Bool
}

// Written returns the bytes written through the media sharing f.
func (f *Fault) Written() int64 { return f.written.Load() }

// Failed reports whether the fault has been triggered.
func (f *Fault) Failed() bool { return f.tripped.Load() }

// ErrIO is what an injected failure looks like: an I/O error.
var ErrIO = fmt.Errorf("%w (%w)", syscall.EIO, device.ErrInjected)

// admit admits a write of n bytes or fails it.
func (f *Fault) admit(n int64) bool {
	if f.After <= 0 {
		return true
	}
	for {
		if f.tripped.Load() {
			return false
		}
		w := f.written.Load()
		if w+n > f.After {
			f.tripped.Store(true)
			return false
		}
		if f.written.CompareAndSwap(w, w+n) {
			return true
		}
	}
}

// done records the outcome of an admitted write of n bytes.
func (f *Fault) done(n int64, ok bool) {
	switch {
	case f.After > 0 && !ok:
		f.written.Add(-n)
	case f.After <= 0 && ok:
		f.written.Add(n)
	}
}

// Library returns lib with every medium it mounts failing as f says.
func Library(lib device.Library, f *Fault) device.Library {
	return &library{lib: lib, f: f}
}

// Device returns a hook for devices.SetTestWrap that wraps the libraries
// of the device named name (those it writes through) with f.
func Device(name string, f *Fault) func(config.Pool, config.Device, device.Library) device.Library {
	return func(_ config.Pool, d config.Device, lib device.Library) device.Library {
		if d.Name != name {
			return lib
		}
		return Library(lib, f)
	}
}

// Every returns a hook for devices.SetTestWrap that gives every device
// (those that write) a Fault of its own, failing after after bytes, kept
// while the hook is installed.
func Every(after int64) func(config.Pool, config.Device, device.Library) device.Library {
	var mu sync.Mutex
	faults := map[string]*Fault{}
	return func(_ config.Pool, d config.Device, lib device.Library) device.Library {
		if d.Name == "" {
			return lib
		}
		mu.Lock()
		f := faults[d.Name]
		if f == nil {
			f = &Fault{After: after}
			faults[d.Name] = f
		}
		mu.Unlock()
		return Library(lib, f)
	}
}

type library struct {
	lib device.Library
	f   *Fault
}

var (
	_ device.Library = (*library)(nil)
	_ device.Wrapper = (*library)(nil)
)

func (l *library) Name() string           { return l.lib.Name() }
func (l *library) Caps() device.Caps      { return l.lib.Caps() }
func (l *library) Unwrap() device.Library { return l.lib }
func (l *library) Close() error           { return l.lib.Close() }

func (l *library) List(ctx context.Context) ([]device.Found, error) { return l.lib.List(ctx) }

func (l *library) Create(ctx context.Context, label string, blockSize int) (device.Medium, device.VolumeRef, error) {
	m, ref, err := l.lib.Create(ctx, label, blockSize)
	if err != nil {
		return nil, ref, err
	}
	return Medium(m, l.f), ref, nil
}

func (l *library) Open(ctx context.Context, ref device.VolumeRef, mode device.Mode, blockSize int) (device.Medium, error) {
	m, err := l.lib.Open(ctx, ref, mode, blockSize)
	if err != nil {
		return nil, err
	}
	return Medium(m, l.f), nil
}

func (l *library) Erase(ctx context.Context, ref device.VolumeRef, blockSize int) (device.Medium, error) {
	m, err := l.lib.Erase(ctx, ref, blockSize)
	if err != nil {
		return nil, err
	}
	return Medium(m, l.f), nil
}

// holes is the volume reader's interface for sparse volume files
// (volume.Reader looks for it on the medium).
type holes interface {
	NextData(n int64) (int64, error)
}

// Medium returns m failing writes as f says, with the optional interfaces
// of m.
func Medium(m device.Medium, f *Fault) device.Medium {
	b := &medium{Medium: m, f: f}
	l, isL := m.(device.Locator)
	t, isT := m.(device.Truncater)
	h, isH := m.(holes)
	switch {
	case isL && isT && isH:
		return struct {
			*medium
			device.Locator
			device.Truncater
			holes
		}{b, l, t, h}
	case isL && isT:
		return struct {
			*medium
			device.Locator
			device.Truncater
		}{b, l, t}
	case isL && isH:
		return struct {
			*medium
			device.Locator
			holes
		}{b, l, h}
	case isT && isH:
		return struct {
			*medium
			device.Truncater
			holes
		}{b, t, h}
	case isL:
		return struct {
			*medium
			device.Locator
		}{b, l}
	case isT:
		return struct {
			*medium
			device.Truncater
		}{b, t}
	case isH:
		return struct {
			*medium
			holes
		}{b, h}
	}
	return b
}

// medium is the core of a wrapped medium: its writes go through the
// fault.
type medium struct {
	device.Medium
	f *Fault
}

func (m *medium) WriteBlock(b []byte) error {
	n := int64(len(b))
	if !m.f.admit(n) {
		return &os.PathError{Op: "write", Path: m.Name(), Err: ErrIO}
	}
	err := m.Medium.WriteBlock(b)
	m.f.done(n, err == nil)
	return err
}
