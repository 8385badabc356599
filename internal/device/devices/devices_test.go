package devices

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/fault"
	"daisy/internal/records"
	"daisy/internal/volume"
)

const bs = volume.MinBlockSize

func labelled(t *testing.T, lib device.Library, label string) device.VolumeRef {
	t.Helper()
	m, ref, err := lib.Create(context.Background(), label, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := volume.Format(m, volume.Label{VolumeID: records.NewID(), Label: label, Pool: "p", BlockSize: bs}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// A Set builds each pool's and device's library once, opens a volume by
// its pool and reference, and a volume of a pool the configuration does
// not name by its reference alone.
func TestSet(t *testing.T) {
	ctx := context.Background()
	p := config.Pool{Name: "p", Type: config.TypeVTape, Directory: filepath.Join(t.TempDir(), "p")}
	cfg := &config.Config{Pools: []config.Pool{p}}
	s := New(cfg)
	defer s.Close()
	d := config.Device{Name: "R1", Type: config.TypeVTape, BlockSize: bs}
	w, err := s.Library(p, d)
	if err != nil {
		t.Fatal(err)
	}
	if w2, _ := s.Library(p, d); w2 != w {
		t.Error("the library of a pool and device is built twice")
	}
	if !strings.Contains(w.Name(), p.Directory) {
		t.Errorf("library name %q does not name the directory", w.Name())
	}
	ref := labelled(t, w, "p-0001")
	m, err := s.Open(ctx, Volume{Pool: "p", Ref: ref}, device.ReadOnly)
	if err != nil {
		t.Fatalf("Open by pool: %v", err)
	}
	if m.BlockSize() != bs {
		t.Errorf("block size %d from the label, want %d", m.BlockSize(), bs)
	}
	m.Close()
	// No configuration, or a pool it does not name: by the reference.
	for _, v := range []Volume{{Ref: ref}, {Pool: "gone", Ref: ref, BlockSize: bs}} {
		m, err := New(nil).Open(ctx, v, device.ReadOnly)
		if err != nil {
			t.Fatalf("Open %+v: %v", v, err)
		}
		m.Close()
	}
	// A relative path (daisy scan vol.vtape) reads as well.
	t.Chdir(p.Directory)
	if m, err := New(nil).Open(ctx, Volume{Ref: filepath.Base(ref)}, device.ReadOnly); err != nil {
		t.Fatalf("Open by a relative path: %v", err)
	} else {
		m.Close()
	}
	if _, err := s.Open(ctx, Volume{Pool: "p", Ref: ref + "x"}, device.ReadOnly); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("Open of a missing volume: %v, want ErrNoVolume", err)
	}
	if _, err := New(nil).Open(ctx, Volume{Pool: "s3pool", Label: "L1", Ref: "s3://bucket/x"}, device.ReadOnly); !errors.Is(err, device.ErrNoVolume) || !strings.Contains(err.Error(), "s3pool") {
		t.Fatalf("Open of a reference no type reads: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Library(p, d); err == nil {
		t.Error("Library after Close: no error")
	}
}

// Bad pools and devices: clear errors naming them.
func TestBuildErrors(t *testing.T) {
	p := config.Pool{Name: "p", Type: "floppy", Directory: t.TempDir()}
	if _, err := Build(p, config.Device{}); err == nil || !strings.Contains(err.Error(), `pool p: unknown device type "floppy"`) {
		t.Errorf("unknown type: %v", err)
	}
	p.Type = config.TypeVTape
	if _, err := Build(p, config.Device{Name: "R1", Type: "tape"}); err == nil || !strings.Contains(err.Error(), "device R1") || !strings.Contains(err.Error(), "pool p") {
		t.Errorf("device of another type: %v", err)
	}
	if _, err := Build(config.Pool{Name: "q", Type: config.TypeVTape}, config.Device{}); err == nil || !strings.Contains(err.Error(), "pool q") {
		t.Errorf("vtape pool without a directory: %v", err)
	}
	found := false
	for _, typ := range Types() {
		found = found || typ == config.TypeVTape
	}
	if !found {
		t.Errorf("Types %v lacks vtape", Types())
	}
}

// The test hook wraps the libraries built while it is installed, with
// their pool and device; undo removes it.
func TestSetTestWrap(t *testing.T) {
	ctx := context.Background()
	p := config.Pool{Name: "p", Type: config.TypeVTape, Directory: t.TempDir()}
	d := config.Device{Name: "R1", Type: config.TypeVTape}
	f := &fault.Fault{After: 1}
	var seen []string
	undo := SetTestWrap(func(pp config.Pool, dd config.Device, lib device.Library) device.Library {
		seen = append(seen, pp.Name+"/"+dd.Name)
		return fault.Device("R1", f)(pp, dd, lib)
	})
	lib, err := Build(p, d)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := lib.Create(ctx, "A", bs)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteBlock(make([]byte, bs)); !errors.Is(err, device.ErrInjected) {
		t.Fatalf("write through the wrapped library: %v, want the injected failure", err)
	}
	m.Close()
	undo()
	lib, err = Build(p, d)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err = lib.Create(ctx, "B", bs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.WriteBlock(make([]byte, bs)); err != nil {
		t.Fatalf("write after undo: %v", err)
	}
	if len(seen) != 1 || seen[0] != "p/R1" {
		t.Fatalf("the hook saw %v, want p/R1 once", seen)
	}
}
