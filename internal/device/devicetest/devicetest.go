// Package devicetest is the conformance suite of device libraries: one set
// of tests, run by every device type (vtape, tape on its fake driver, s3
// on a real server, the fault wrapper), that checks what the interfaces of
// internal/device promise: Library's Create, Open, Erase and List with
// ErrNoVolume, ErrExists and ErrBusy, and Medium's block size rules,
// reading back, Position, Locate, Truncate, Append, the early warning with
// its reserve and ErrFull, Stats and Close.
//
// A device type calls Run from a test of its package:
//
//	func TestConformance(t *testing.T) {
//		devicetest.Run(t, devicetest.Config{
//			New:   func(t *testing.T) device.Library { return newLibrary(t, 0) },
//			Small: func(t *testing.T, blocks int) device.Library { return newLibrary(t, blocks) },
//		})
//	}
//
// New returns a new, empty library for each subtest (the suite closes
// it). Small is needed when the library's Caps say EarlyWarning: it
// returns one whose new volumes give the early warning after at most
// `blocks` blocks (of Config.BlockSize) have been written, label
// included. OneMedium says the library is a drive that holds one medium at
// a time (Open and Create fail with ErrBusy while one is mounted).
//
// Capabilities are tested as the library claims them: Locate when the
// media implement device.Locator (and they must when Caps.Seekable),
// Truncate when Caps.Truncate (the media must implement
// device.Truncater), the append tests when Caps.Append, the early-warning
// tests when Caps.EarlyWarning. Nothing is skipped silently: a library
// that claims a capability without the means to test it fails.
//
// A volume's block 0 is a daisy label (volume.Format), so that Open with
// block size 0 has a label to take it from; the other blocks hold a
// pattern that names their number and volume.
package devicetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"daisy/internal/device"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// Config describes the library under test.
type Config struct {
	// New returns a new, empty library. Required.
	New func(t *testing.T) device.Library
	// Small returns a new, empty library whose new volumes give the early
	// warning after at most blocks blocks of BlockSize were written
	// (label included); required when Caps().EarlyWarning. The suite asks
	// for 8 blocks.
	Small func(t *testing.T, blocks int) device.Library
	// BlockSize of the volumes the suite writes; default
	// volume.MinBlockSize (64 KiB).
	BlockSize int
	// OneMedium: the library is a drive holding one medium at a time.
	OneMedium bool
	// MaxReserve bounds the blocks the suite writes after the early
	// warning before it expects device.ErrFull; default 64.
	MaxReserve int
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	if c.New == nil {
		t.Fatal("devicetest: Config.New is required")
	}
	if c.BlockSize == 0 {
		c.BlockSize = volume.MinBlockSize
	}
	if c.MaxReserve == 0 {
		c.MaxReserve = 64
	}
	s := &suite{c: c}
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"CreateWriteRead", s.createWriteRead},
		{"BlockSizeRules", s.blockSizeRules},
		{"OpenBlockSizeFromLabel", s.openFromLabel},
		{"ReadOnly", s.readOnly},
		{"Locate", s.locate},
		{"Append", s.append},
		{"Truncate", s.truncate},
		{"EarlyWarning", s.earlyWarning},
		{"Erase", s.erase},
		{"List", s.list},
		{"NoVolume", s.noVolume},
		{"Exists", s.exists},
		{"Busy", s.busy},
		{"Cancelled", s.cancelled},
		{"Close", s.close},
	} {
		t.Run(tc.name, tc.f)
	}
}

type suite struct {
	c Config
}

func (s *suite) lib(t *testing.T) device.Library {
	t.Helper()
	lib := s.c.New(t)
	if lib == nil {
		t.Fatal("Config.New returned nil")
	}
	t.Cleanup(func() {
		if err := lib.Close(); err != nil {
			t.Errorf("library Close: %v", err)
		}
	})
	if lib.Name() == "" {
		t.Error("library Name is empty")
	}
	return lib
}

var ctx = context.Background()

// block returns the content of block n of the volume labelled label: every
// byte depends on both.
func (s *suite) block(label string, n int64) []byte {
	b := make([]byte, s.c.BlockSize)
	seed := byte(len(label))
	for _, c := range []byte(label) {
		seed = seed*31 + c
	}
	for i := range b {
		b[i] = byte(int64(i)%251) ^ byte(n*7) ^ seed
	}
	copy(b, fmt.Sprintf("devicetest %s block %d", label, n))
	return b
}

// create makes volume label with its daisy label block and data blocks
// 1..data, synced and closed; it returns its reference.
func (s *suite) create(t *testing.T, lib device.Library, label string, data int) device.VolumeRef {
	t.Helper()
	m, ref := s.createOpen(t, lib, label)
	s.writeData(t, m, label, 1, data)
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return ref
}

// createOpen makes volume label with its label block and leaves it
// mounted, at block 1.
func (s *suite) createOpen(t *testing.T, lib device.Library, label string) (device.Medium, device.VolumeRef) {
	t.Helper()
	m, ref, err := lib.Create(ctx, label, s.c.BlockSize)
	if err != nil {
		t.Fatalf("Create %s: %v", label, err)
	}
	if m.Position() != 0 || m.BlockSize() != s.c.BlockSize {
		m.Close()
		t.Fatalf("Create %s: position %d, block size %d; want 0 and %d", label, m.Position(), m.BlockSize(), s.c.BlockSize)
	}
	if m.Name() == "" {
		t.Errorf("Create %s: the medium's Name is empty", label)
	}
	s.format(t, m, label)
	return m, ref
}

func (s *suite) format(t *testing.T, m device.Medium, label string) {
	t.Helper()
	l := volume.Label{VolumeID: records.NewID(), Label: label, Pool: "devicetest", BlockSize: s.c.BlockSize, Created: time.Now().UTC()}
	if err := volume.Format(m, l); err != nil {
		m.Close()
		t.Fatalf("label %s: %v", label, err)
	}
	if m.Position() != 1 {
		m.Close()
		t.Fatalf("after the label block of %s: position %d, want 1", label, m.Position())
	}
}

func (s *suite) writeData(t *testing.T, m device.Medium, label string, from int64, n int) {
	t.Helper()
	for i := from; i < from+int64(n); i++ {
		at := m.Position()
		if err := m.WriteBlock(s.block(label, i)); err != nil {
			m.Close()
			t.Fatalf("%s: WriteBlock %d at %d: %v", label, i, at, err)
		}
		if m.Position() != at+1 {
			m.Close()
			t.Fatalf("%s: after writing block %d at %d the position is %d", label, i, at, m.Position())
		}
	}
}

func (s *suite) open(t *testing.T, lib device.Library, ref device.VolumeRef, mode device.Mode, bs int) device.Medium {
	t.Helper()
	m, err := lib.Open(ctx, ref, mode, bs)
	if err != nil {
		t.Fatalf("Open %s (mode %d, block size %d): %v", ref, mode, bs, err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Position() != 0 {
		t.Fatalf("Open %s: position %d, want 0", ref, m.Position())
	}
	if m.BlockSize() != s.c.BlockSize {
		t.Fatalf("Open %s: block size %d, want %d", ref, m.BlockSize(), s.c.BlockSize)
	}
	return m
}

// readAll reads the medium from its position to its end: the data blocks'
// numbers must follow want (label's blocks; block 0 is the label, checked
// by volume.NewReader elsewhere, here only read).
func (s *suite) readAll(t *testing.T, m device.Medium) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		b := make([]byte, s.c.BlockSize)
		err := m.ReadBlock(b)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("ReadBlock at %d: %v", m.Position(), err)
		}
		out = append(out, b)
		if len(out) > 1<<16 {
			t.Fatal("ReadBlock never returns io.EOF")
		}
	}
}

// check compares blocks 1.. of what was read with the blocks of label
// numbered from 1 (want[i] is the label block number of read block i+1).
func (s *suite) check(t *testing.T, got [][]byte, label string, want []int64) {
	t.Helper()
	if len(got) != len(want)+1 {
		t.Fatalf("%s: read %d blocks, want the label and %d", label, len(got), len(want))
	}
	if !bytes.HasPrefix(got[0], []byte("DSY1")) {
		t.Fatalf("%s: block 0 is not the label", label)
	}
	for i, n := range want {
		if !bytes.Equal(got[i+1], s.block(label, n)) {
			t.Fatalf("%s: block %d read back is not the block written as %d (starts %q)", label, i+1, n, got[i+1][:32])
		}
	}
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func (s *suite) createWriteRead(t *testing.T) {
	lib := s.lib(t)
	m, ref := s.createOpen(t, lib, "T0001")
	s.writeData(t, m, "T0001", 1, 5)
	st := m.Stats()
	bs := int64(s.c.BlockSize)
	if st.BlocksWritten != 6 || st.BytesWritten != 6*bs || st.BlocksRead != 0 || st.BytesRead != 0 {
		t.Errorf("Stats after writing 6 blocks: %+v", st)
	}
	if err := m.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := s.open(t, lib, ref, device.ReadOnly, s.c.BlockSize)
	got := s.readAll(t, r)
	s.check(t, got, "T0001", seq(1, 5))
	if r.Position() != 6 {
		t.Errorf("position at the end: %d, want 6", r.Position())
	}
	if err := r.ReadBlock(make([]byte, bs)); err != io.EOF {
		t.Errorf("ReadBlock past the end again: %v, want io.EOF", err)
	}
	if st := r.Stats(); st.BlocksRead != 6 || st.BytesRead != 6*bs || st.BlocksWritten != 0 || st.BytesWritten != 0 {
		t.Errorf("Stats after reading 6 blocks: %+v", st)
	}
	// The label reads as a daisy volume.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = s.open(t, lib, ref, device.ReadOnly, s.c.BlockSize)
	rd, err := volume.NewReader(r)
	if err != nil || rd.Label().Label != "T0001" || rd.Label().BlockSize != s.c.BlockSize {
		t.Fatalf("volume.NewReader on the medium: %v (label %+v)", err, rd)
	}
	// A read into a larger buffer fills BlockSize bytes.
	if loc, ok := r.(device.Locator); ok {
		if err := loc.Locate(2); err != nil {
			t.Fatal(err)
		}
		b := bytes.Repeat([]byte{0xee}, 2*s.c.BlockSize)
		if err := r.ReadBlock(b); err != nil || !bytes.Equal(b[:bs], s.block("T0001", 2)) {
			t.Fatalf("ReadBlock into a buffer of two blocks: %v", err)
		}
	}
}

func (s *suite) blockSizeRules(t *testing.T) {
	lib := s.lib(t)
	for _, bad := range []int{0, -1} {
		if m, _, err := lib.Create(ctx, fmt.Sprintf("BAD%d", -bad), bad); err == nil {
			m.Close()
			t.Errorf("Create with block size %d: no error", bad)
		}
	}
	m, ref := s.createOpen(t, lib, "T0002")
	bs := s.c.BlockSize
	for _, n := range []int{bs - 1, bs + 1, 0} {
		if err := m.WriteBlock(make([]byte, n)); err == nil {
			t.Errorf("WriteBlock of %d bytes on a medium of %d-byte blocks: no error", n, bs)
		}
	}
	if m.Position() != 1 {
		t.Errorf("failed writes moved the position to %d", m.Position())
	}
	s.writeData(t, m, "T0002", 1, 2)
	if st := m.Stats(); st.BlocksWritten != 3 || st.BytesWritten != 3*int64(bs) {
		t.Errorf("Stats count %d blocks, %d bytes written, want 3 blocks (failed writes are not counted)", st.BlocksWritten, st.BytesWritten)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r := s.open(t, lib, ref, device.ReadOnly, bs)
	if err := r.ReadBlock(make([]byte, bs-1)); err == nil {
		t.Error("ReadBlock into a buffer shorter than a block: no error")
	}
	if r.Position() != 0 {
		t.Errorf("a failed read moved the position to %d", r.Position())
	}
	s.check(t, s.readAll(t, r), "T0002", seq(1, 2))
	// Opened with a block size that is not the volume's: refused.
	if m, err := lib.Open(ctx, ref, device.ReadOnly, 2*bs); err == nil {
		m.Close()
		t.Errorf("Open with block size %d of a volume of %d-byte blocks: no error", 2*bs, bs)
	}
}

func (s *suite) openFromLabel(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0003", 3)
	r := s.open(t, lib, ref, device.ReadOnly, 0)
	s.check(t, s.readAll(t, r), "T0003", seq(1, 3))
}

func (s *suite) readOnly(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0004", 2)
	r := s.open(t, lib, ref, device.ReadOnly, s.c.BlockSize)
	s.readAll(t, r)
	if err := r.WriteBlock(s.block("T0004", 9)); err == nil {
		t.Fatal("WriteBlock on a medium mounted read only: no error")
	}
	if t2, ok := r.(device.Truncater); ok {
		if err := t2.Truncate(1); err == nil {
			t.Fatal("Truncate on a medium mounted read only: no error")
		}
	}
	r.Close()
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0004", seq(1, 2))
}

func (s *suite) locate(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0005", 6)
	r := s.open(t, lib, ref, device.ReadOnly, s.c.BlockSize)
	loc, ok := r.(device.Locator)
	if !ok {
		if lib.Caps().Seekable {
			t.Fatal("Caps say Seekable, but the medium is not a device.Locator")
		}
		return
	}
	b := make([]byte, s.c.BlockSize)
	for _, n := range []int64{4, 1, 6, 2} {
		if err := loc.Locate(n); err != nil {
			t.Fatalf("Locate(%d): %v", n, err)
		}
		if r.Position() != n {
			t.Fatalf("Locate(%d): position %d", n, r.Position())
		}
		if err := r.ReadBlock(b); err != nil || !bytes.Equal(b, s.block("T0005", n)) {
			t.Fatalf("block %d after Locate: %v", n, err)
		}
	}
	if err := loc.Locate(7); err != nil {
		t.Fatalf("Locate(7), the end of the data: %v", err)
	}
	if err := r.ReadBlock(b); err != io.EOF {
		t.Fatalf("ReadBlock at the end after Locate: %v, want io.EOF", err)
	}
	for _, n := range []int64{-1, 8, 1000} {
		if err := loc.Locate(n); err == nil {
			t.Errorf("Locate(%d) on a volume of 7 blocks: no error", n)
		}
	}
	if err := loc.Locate(0); err != nil || r.Position() != 0 {
		t.Fatalf("Locate(0): %v, position %d", err, r.Position())
	}
}

// toEnd positions an appendable medium after its last block, as a volume
// writer does: Truncate, else Locate, else reading to the end.
func (s *suite) toEnd(t *testing.T, m device.Medium, n int64) {
	t.Helper()
	switch x := m.(type) {
	case device.Truncater:
		if err := x.Truncate(n); err != nil {
			t.Fatalf("Truncate(%d) at the end: %v", n, err)
		}
	case device.Locator:
		if err := x.Locate(n); err != nil {
			t.Fatalf("Locate(%d) at the end: %v", n, err)
		}
	default:
		s.readAll(t, m)
	}
	if m.Position() != n {
		t.Fatalf("at the end: position %d, want %d", m.Position(), n)
	}
}

func (s *suite) append(t *testing.T) {
	lib := s.lib(t)
	if !lib.Caps().Append {
		return
	}
	ref := s.create(t, lib, "T0006", 3)
	for round, n := range []int{2, 1} {
		m := s.open(t, lib, ref, device.Append, s.c.BlockSize)
		at := int64(4 + round*2)
		s.toEnd(t, m, at)
		s.writeData(t, m, "T0006", at, n)
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0006", seq(1, 6))
}

func (s *suite) truncate(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0007", 5)
	m := s.open(t, lib, ref, device.Append, s.c.BlockSize)
	tr, ok := m.(device.Truncater)
	if !lib.Caps().Truncate {
		return
	}
	if !ok {
		t.Fatal("Caps say Truncate, but the medium is not a device.Truncater")
	}
	if err := tr.Truncate(7); err == nil {
		t.Error("Truncate(7) on a volume of 6 blocks: no error")
	}
	if err := tr.Truncate(3); err != nil {
		t.Fatalf("Truncate(3): %v", err)
	}
	if m.Position() != 3 {
		t.Fatalf("Truncate(3): position %d", m.Position())
	}
	s.writeData(t, m, "T0007", 10, 1)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0007", []int64{1, 2, 10})
}

func (s *suite) earlyWarning(t *testing.T) {
	probe := s.lib(t)
	if !probe.Caps().EarlyWarning {
		return
	}
	if s.c.Small == nil {
		t.Fatal("Caps say EarlyWarning, but Config.Small is nil: the early warning cannot be tested")
	}
	const blocks = 8
	lib := s.c.Small(t, blocks)
	t.Cleanup(func() { lib.Close() })
	m, ref := s.createOpen(t, lib, "T0008")
	defer m.Close()
	var written []int64
	n := int64(1)
	for ; ; n++ {
		err := m.WriteBlock(s.block("T0008", n))
		if errors.Is(err, device.ErrEndOfMedium) {
			break
		}
		if err != nil {
			t.Fatalf("WriteBlock %d before the early warning: %v", n, err)
		}
		written = append(written, n)
		if n > blocks {
			t.Fatalf("no early warning after %d blocks, the library was made for %d", n+1, blocks)
		}
	}
	if m.Position() != n {
		t.Fatalf("the early warning moved the position to %d, want %d (the block was not written)", m.Position(), n)
	}
	// The reserve: at least one block (a trailer), then ErrFull.
	reserve := 0
	for ; ; n++ {
		err := m.WriteBlock(s.block("T0008", n))
		if errors.Is(err, device.ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("WriteBlock %d in the reserve: %v", n, err)
		}
		written = append(written, n)
		if reserve++; reserve > s.c.MaxReserve {
			t.Fatalf("no ErrFull after %d blocks in the reserve", reserve)
		}
	}
	if reserve == 0 {
		t.Fatal("no block fits after the early warning: no reserve for a trailer")
	}
	if err := m.WriteBlock(s.block("T0008", n)); !errors.Is(err, device.ErrFull) {
		t.Fatalf("WriteBlock after ErrFull: %v, want ErrFull again", err)
	}
	if st := m.Stats(); st.BlocksWritten != int64(len(written))+1 {
		t.Errorf("Stats count %d blocks written, want %d", st.BlocksWritten, len(written)+1)
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	r := s.open(t, lib, ref, device.ReadOnly, 0)
	got := s.readAll(t, r)
	// The block refused at the warning was not written: the reserve's
	// blocks follow those before it.
	if len(got) != len(written)+1 {
		t.Fatalf("read %d blocks, want the label and the %d written", len(got), len(written))
	}
	for i, w := range written {
		if !bytes.Equal(got[i+1], s.block("T0008", w)) {
			t.Fatalf("block %d is not the one written as %d", i+1, w)
		}
	}
}

func (s *suite) erase(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0009", 4)
	m, err := lib.Erase(ctx, ref, s.c.BlockSize)
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	if m.Position() != 0 || m.BlockSize() != s.c.BlockSize {
		m.Close()
		t.Fatalf("Erase: position %d, block size %d", m.Position(), m.BlockSize())
	}
	s.format(t, m, "T0009")
	s.writeData(t, m, "T0009", 20, 1)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0009", []int64{20})
}

func (s *suite) list(t *testing.T) {
	lib := s.lib(t)
	found, err := lib.List(ctx)
	if err != nil || len(found) != 0 {
		t.Fatalf("List of a new library: %v, %v; want nothing", found, err)
	}
	want := map[device.VolumeRef]int64{}
	for i, n := range []int{1, 3, 0} {
		ref := s.create(t, lib, fmt.Sprintf("L%04d", i), n)
		want[ref] = int64(1+n) * int64(s.c.BlockSize)
	}
	found, err = lib.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var refs []device.VolumeRef
	for _, f := range found {
		refs = append(refs, f.Ref)
		size, ok := want[f.Ref]
		switch {
		case !ok:
			t.Errorf("List gives %q, not a volume created (%v)", f.Ref, want)
		case f.Size != -1 && f.Size != size:
			t.Errorf("List gives %q with %d bytes, want %d (or -1: unknown)", f.Ref, f.Size, size)
		}
	}
	slices.Sort(refs)
	if len(slices.Compact(refs)) != len(want) || len(found) != len(want) {
		t.Fatalf("List gives %v, want each of %v once", found, want)
	}
	// Each volume listed opens.
	for _, f := range found {
		m, err := lib.Open(ctx, f.Ref, device.ReadOnly, 0)
		if err != nil {
			t.Fatalf("Open of listed %s: %v", f.Ref, err)
		}
		m.Close()
	}
}

func (s *suite) noVolume(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0010", 0)
	missing := ref + "-missing"
	if m, err := lib.Open(ctx, missing, device.ReadOnly, 0); !errors.Is(err, device.ErrNoVolume) {
		if m != nil {
			m.Close()
		}
		t.Errorf("Open of %q: %v, want ErrNoVolume", missing, err)
	}
	if m, err := lib.Open(ctx, missing, device.Append, s.c.BlockSize); !errors.Is(err, device.ErrNoVolume) {
		if m != nil {
			m.Close()
		}
		t.Errorf("Open for append of %q: %v, want ErrNoVolume", missing, err)
	}
	if m, err := lib.Erase(ctx, missing, s.c.BlockSize); !errors.Is(err, device.ErrNoVolume) {
		if m != nil {
			m.Close()
		}
		t.Errorf("Erase of %q: %v, want ErrNoVolume", missing, err)
	}
	if found, err := lib.List(ctx); err != nil || len(found) != 1 {
		t.Errorf("List after the failed calls: %v, %v; want the one volume", found, err)
	}
}

func (s *suite) exists(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0011", 1)
	if m, _, err := lib.Create(ctx, "T0011", s.c.BlockSize); !errors.Is(err, device.ErrExists) {
		if m != nil {
			m.Close()
		}
		t.Fatalf("Create of a label the library holds: %v, want ErrExists", err)
	}
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0011", seq(1, 1))
}

func (s *suite) busy(t *testing.T) {
	lib := s.lib(t)
	a := s.create(t, lib, "T0012", 1)
	b := s.create(t, lib, "T0013", 1)
	m := s.open(t, lib, a, device.ReadOnly, 0)
	m2, err := lib.Open(ctx, b, device.ReadOnly, 0)
	if !s.c.OneMedium {
		// Several media at once: each reads its own volume.
		if err != nil {
			t.Fatalf("a second medium at once: %v", err)
		}
		t.Cleanup(func() { m2.Close() })
		s.check(t, s.readAll(t, m2), "T0013", seq(1, 1))
		s.check(t, s.readAll(t, m), "T0012", seq(1, 1))
		return
	}
	if !errors.Is(err, device.ErrBusy) {
		if m2 != nil {
			m2.Close()
		}
		t.Fatalf("Open while a medium is mounted: %v, want ErrBusy", err)
	}
	if m3, _, err := lib.Create(ctx, "T0014", s.c.BlockSize); !errors.Is(err, device.ErrBusy) {
		if m3 != nil {
			m3.Close()
		}
		t.Fatalf("Create while a medium is mounted: %v, want ErrBusy", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	s.check(t, s.readAll(t, s.open(t, lib, b, device.ReadOnly, 0)), "T0013", seq(1, 1))
}

func (s *suite) cancelled(t *testing.T) {
	lib := s.lib(t)
	ref := s.create(t, lib, "T0015", 1)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if m, _, err := lib.Create(c, "T0016", s.c.BlockSize); err == nil {
		m.Close()
		t.Error("Create with a cancelled context: no error")
	}
	if m, err := lib.Open(c, ref, device.ReadOnly, 0); err == nil {
		m.Close()
		t.Error("Open with a cancelled context: no error")
	}
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0015", seq(1, 1))
}

func (s *suite) close(t *testing.T) {
	lib := s.lib(t)
	m, ref := s.createOpen(t, lib, "T0017")
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b := make([]byte, s.c.BlockSize)
	if err := m.WriteBlock(b); err == nil {
		t.Error("WriteBlock after Close: no error")
	}
	if err := m.ReadBlock(b); err == nil {
		t.Error("ReadBlock after Close: no error")
	}
	if err := m.Sync(); err == nil {
		t.Error("Sync after Close: no error")
	}
	// What was synced before Close stays.
	s.check(t, s.readAll(t, s.open(t, lib, ref, device.ReadOnly, 0)), "T0017", nil)
}
