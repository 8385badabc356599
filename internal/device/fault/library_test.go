package fault

import (
	"context"
	"path/filepath"
	"testing"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devicetest"
	"daisy/internal/device/vtape"
	"daisy/internal/volume"
)

func vtapeLibrary(t *testing.T, capacity int64) device.Library {
	t.Helper()
	l, err := vtape.NewLibrary(vtape.LibraryOptions{Dir: filepath.Join(t.TempDir(), "pool"), Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Issue 10: the fault wrapper, with no fault armed, passes the device
// conformance suite around vtape (and so passes through what vtape can).
func TestConformance(t *testing.T) {
	devicetest.Run(t, devicetest.Config{
		New: func(t *testing.T) device.Library { return Library(vtapeLibrary(t, 0), &Fault{}) },
		Small: func(t *testing.T, blocks int) device.Library {
			return Library(vtapeLibrary(t, int64(blocks)*volume.MinBlockSize), &Fault{})
		},
	})
}

// The wrapper keeps the optional interfaces of the medium inside, and
// device.As finds those of the library inside.
func TestWrapperPassesCapabilities(t *testing.T) {
	ctx := context.Background()
	lib := Library(vtapeLibrary(t, 0), &Fault{})
	if _, ok := device.As[device.Space](lib); !ok {
		t.Error("device.As finds no Space through the wrapper")
	}
	if _, ok := device.As[device.Reclaimer](lib); !ok {
		t.Error("device.As finds no Reclaimer through the wrapper")
	}
	m, _, err := lib.Create(ctx, "A", tbs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, isL := m.(device.Locator)
	_, isT := m.(device.Truncater)
	_, isH := m.(interface{ NextData(int64) (int64, error) })
	if !isL || !isT || !isH {
		t.Errorf("wrapped vtape medium: Locator %v, Truncater %v, NextData %v; want all", isL, isT, isH)
	}
	// A medium without them does not gain them.
	bare := Medium(struct{ device.Medium }{m}, &Fault{})
	if _, ok := bare.(device.Locator); ok {
		t.Error("a wrapped medium without Locate claims to be a Locator")
	}
	if _, ok := bare.(device.Truncater); ok {
		t.Error("a wrapped medium without Truncate claims to be a Truncater")
	}
}

// One fault is shared by every medium of a wrapped library, across
// Create, Open and Erase; Device wraps only the named device's writing
// libraries, Every gives each device a fault of its own.
func TestLibraryFaultShared(t *testing.T) {
	ctx := context.Background()
	f := &Fault{After: 3 * tbs}
	lib := Library(vtapeLibrary(t, 0), f)
	a, ref, err := lib.Create(ctx, "A", tbs)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, a, 0, 2)
	a.Close()
	b, err := lib.Open(ctx, ref, device.Append, tbs)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.(device.Locator).Locate(2)
	writeN(t, b, 2, 1)
	if err := b.WriteBlock(blockOf(3, tbs)); !isInjected(err) {
		t.Fatalf("4th block through the library: %v, want the injected failure", err)
	}
	c, err := lib.Erase(ctx, ref, tbs)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteBlock(blockOf(0, tbs)); !isInjected(err) {
		t.Fatalf("write to an erased volume of the failed device: %v", err)
	}

	inner := vtapeLibrary(t, 0)
	hook := Device("R5", &Fault{After: tbs})
	if got := hook(config.Pool{}, config.Device{Name: "R1"}, inner); got != inner {
		t.Error("Device(R5) wrapped the library of R1")
	}
	if got := hook(config.Pool{}, config.Device{}, inner); got != inner {
		t.Error("Device(R5) wrapped a library that only reads")
	}
	if _, ok := hook(config.Pool{}, config.Device{Name: "R5"}, inner).(*library); !ok {
		t.Error("Device(R5) did not wrap the library of R5")
	}
	every := Every(tbs)
	l1 := every(config.Pool{}, config.Device{Name: "X"}, inner).(*library)
	l2 := every(config.Pool{}, config.Device{Name: "Y"}, inner).(*library)
	l3 := every(config.Pool{Name: "other"}, config.Device{Name: "X"}, inner).(*library)
	if l1.f == l2.f || l1.f != l3.f || l1.f.After != tbs {
		t.Errorf("Every: faults %p %p %p; want one per device", l1.f, l2.f, l3.f)
	}
}
