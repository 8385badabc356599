// Package devices is the registry of device types: it builds the
// device.Library of a pool (and of the device writing into it) from the
// configuration, and opens a volume the catalog records by its pool and
// reference. It is the only package outside the implementations under
// internal/device that names them; the media agents, the pools and the
// jobs reach media through it and the device interfaces alone.
//
// Each device type registers itself in a file of its own (vtape.go):
// adding a type is a new file with one Register call in its init. The
// package takes plain values (config.Pool, config.Device, Volume) and does
// not import the catalog: it lies below the media agents, pools and jobs.
//
// Tests wrap every library a Set builds (the fault wrapper of
// internal/device/fault) with SetTestWrap.
package devices

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"daisy/internal/config"
	"daisy/internal/device"
)

// Builder makes the library of pool p as written through device d. For a
// library that only reads p's volumes (a restore names no device), d is
// the zero Device.
type Builder func(p config.Pool, d config.Device) (device.Library, error)

var (
	regMu    sync.Mutex
	builders = map[string]Builder{}
	// byRef builds a library for a volume whose pool the configuration
	// does not name (a pool dropped from daisy.yaml, a volume given by
	// its path), from its reference alone; nil if no type knows it.
	byRef []func(ref device.VolumeRef) device.Library
)

// Register makes typ (a pool's and device's "type:") build its libraries
// with b. Called from the init of the type's file in this package.
func Register(typ string, b Builder) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := builders[typ]; dup {
		panic("devices: type " + typ + " registered twice")
	}
	builders[typ] = b
}

// RegisterRef adds a way to read a volume whose pool the configuration
// does not name, by its reference alone (a vtape volume file's path).
func RegisterRef(f func(ref device.VolumeRef) device.Library) {
	regMu.Lock()
	defer regMu.Unlock()
	byRef = append(byRef, f)
}

// Types returns the registered device types.
func Types() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for t := range builders {
		out = append(out, t)
	}
	return out
}

// Wrap is a test hook: it gets every library a Set builds, with the pool
// and device it was built for (the zero Device for a library that reads),
// and returns the library to use instead.
type Wrap func(p config.Pool, d config.Device, lib device.Library) device.Library

var (
	wrapMu sync.Mutex
	wrap   Wrap
)

// SetTestWrap installs w for the libraries built from now on, until the
// function it returns is called. For tests only (a fault injected into
// one device); tests that use it must not run in parallel with others
// that build libraries.
func SetTestWrap(w Wrap) (undo func()) {
	wrapMu.Lock()
	defer wrapMu.Unlock()
	old := wrap
	wrap = w
	return func() {
		wrapMu.Lock()
		defer wrapMu.Unlock()
		wrap = old
	}
}

func wrapped(p config.Pool, d config.Device, lib device.Library) device.Library {
	wrapMu.Lock()
	w := wrap
	wrapMu.Unlock()
	if w == nil {
		return lib
	}
	return w(p, d, lib)
}

// Build returns a new library of pool p written through device d (d may
// be the zero Device: the library then only reads). The caller closes it.
// Most callers use a Set, which builds each library once.
func Build(p config.Pool, d config.Device) (device.Library, error) {
	if d.Type != "" && d.Type != p.Type {
		return nil, fmt.Errorf("device %s of type %s cannot write into pool %s of type %s", d.Name, d.Type, p.Name, p.Type)
	}
	regMu.Lock()
	b := builders[p.Type]
	regMu.Unlock()
	if b == nil {
		return nil, fmt.Errorf("pool %s: unknown device type %q", p.Name, p.Type)
	}
	lib, err := b(p, d)
	if err != nil {
		if d.Name != "" {
			return nil, fmt.Errorf("pool %s, device %s: %w", p.Name, d.Name, err)
		}
		return nil, fmt.Errorf("pool %s: %w", p.Name, err)
	}
	return wrapped(p, d, lib), nil
}

// Volume is a volume as the catalog records it, in plain values.
type Volume struct {
	// Pool is the name of the volume's pool.
	Pool string
	// Label names the volume in messages (optional).
	Label string
	// Ref is the volume's reference in its pool's library (the catalog's
	// path column).
	Ref device.VolumeRef
	// BlockSize is the volume's block size; 0 takes it from its label.
	BlockSize int
}

// Set holds the libraries of one configuration, each built once, on first
// use: one per pool for reading, one per pool and device for writing. A
// job makes one Set and closes it at its end. It is safe for concurrent
// use.
type Set struct {
	cfg *config.Config

	mu     sync.Mutex
	libs   map[[2]string]device.Library // pool, device -> library
	byRef  map[string]device.Library    // libraries for volumes of no configured pool
	closed bool
}

// New returns the Set of the pools and devices of cfg. cfg may be nil: the
// Set then reads volumes by their reference alone (Open) and writes
// through the pools and devices it is given (Library).
func New(cfg *config.Config) *Set {
	return &Set{cfg: cfg, libs: map[[2]string]device.Library{}, byRef: map[string]device.Library{}}
}

var errClosed = errors.New("devices: set closed")

// Library returns the library of pool p written through device d (the
// zero Device: read only), building it on first use.
func (s *Set) Library(p config.Pool, d config.Device) (device.Library, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	k := [2]string{p.Name, d.Name}
	if lib := s.libs[k]; lib != nil {
		return lib, nil
	}
	lib, err := Build(p, d)
	if err != nil {
		return nil, err
	}
	s.libs[k] = lib
	return lib, nil
}

// Pool returns the library that reads the volumes of the pool named name,
// or nil (no error) when the configuration does not name it.
func (s *Set) Pool(name string) (device.Library, error) {
	if s.cfg != nil {
		for _, p := range s.cfg.Pools {
			if p.Name == name {
				return s.Library(p, config.Device{})
			}
		}
	}
	return nil, nil
}

// Open mounts volume v in mode: through the library of its pool, or, for a
// pool the configuration does not name, of the device type that knows its
// reference. It fails wrapping device.ErrNoVolume when no library holds it.
func (s *Set) Open(ctx context.Context, v Volume, mode device.Mode) (device.Medium, error) {
	lib, err := s.Pool(v.Pool)
	if err != nil {
		return nil, err
	}
	if lib == nil {
		if lib, err = s.refLibrary(v); err != nil {
			return nil, err
		}
	}
	return lib.Open(ctx, v.Ref, mode, v.BlockSize)
}

func (s *Set) refLibrary(v Volume) (device.Library, error) {
	regMu.Lock()
	fs := byRef
	regMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	for _, f := range fs {
		if lib := f(v.Ref); lib != nil {
			k := lib.Name()
			if old := s.byRef[k]; old != nil {
				lib.Close()
				return old, nil
			}
			lib = wrapped(config.Pool{Name: v.Pool}, config.Device{}, lib)
			s.byRef[k] = lib
			return lib, nil
		}
	}
	name := v.Label
	if name == "" {
		name = v.Ref
	}
	if v.Pool != "" {
		return nil, fmt.Errorf("volume %s: pool %s is not in the configuration, and no device type reads %q by itself: %w", name, v.Pool, v.Ref, device.ErrNoVolume)
	}
	return nil, fmt.Errorf("volume %s: no device type reads %q: %w", name, v.Ref, device.ErrNoVolume)
}

// Close closes every library the Set built.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for k, lib := range s.libs {
		errs = append(errs, lib.Close())
		delete(s.libs, k)
	}
	for k, lib := range s.byRef {
		errs = append(errs, lib.Close())
		delete(s.byRef, k)
	}
	return errors.Join(errs...)
}
