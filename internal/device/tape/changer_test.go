package tape_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/tape"
	"daisy/internal/device/tape/sttest"
)

// The lines of mtx.c's Status, with the padding of SCSI volume tags.
const realStatus = `  Storage Changer /dev/sg1:2 Drives, 5 Slots ( 1 Import/Export )
Data Transfer Element 0:Full (Storage Element 3 Loaded):VolumeTag = DLY003L9                        
Data Transfer Element 1:Full (Unknown Storage Element Loaded):VolumeTag = X9:AlternateVolumeTag = ALT
      Storage Element 1:Full :VolumeTag=DLY001L9                        
      Storage Element 2:Empty
      Storage Element 3:Empty
      Storage Element 4:Full 
      Storage Element 5 IMPORT/EXPORT:Full :VolumeTag=CLN001L1
`

func TestParseStatus(t *testing.T) {
	inv, err := tape.ParseStatus([]byte(realStatus))
	if err != nil {
		t.Fatal(err)
	}
	want := tape.Inventory{
		Drives: []tape.Element{{Number: 0, Full: true, Tag: "DLY003L9", Source: 3}, {Number: 1, Full: true, Tag: "X9"}},
		Slots: []tape.Element{{Number: 1, Full: true, Tag: "DLY001L9"}, {Number: 2}, {Number: 3}, {Number: 4, Full: true},
			{Number: 5, Full: true, Tag: "CLN001L1", ImportExport: true}},
	}
	if len(inv.Drives) != 2 || len(inv.Slots) != 5 {
		t.Fatalf("inventory %+v", inv)
	}
	for i := range want.Drives {
		if inv.Drives[i] != want.Drives[i] {
			t.Errorf("drive %d: %+v, want %+v", i, inv.Drives[i], want.Drives[i])
		}
	}
	for i := range want.Slots {
		if inv.Slots[i] != want.Slots[i] {
			t.Errorf("slot %d: %+v, want %+v", i+1, inv.Slots[i], want.Slots[i])
		}
	}
	if d, s := inv.Find("DLY003L9"); d != 0 || s != 3 {
		t.Errorf("Find(DLY003L9) = %d, %d", d, s)
	}
	if d, s := inv.Find("DLY001L9"); d != -1 || s != 1 {
		t.Errorf("Find(DLY001L9) = %d, %d", d, s)
	}
}

func TestParseStatusErrors(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"", "no \"Storage Changer\" header"},
		{"Data Transfer Element 0:Empty\n", `line 1 "Data Transfer Element 0:Empty": expected the header`},
		{"  Storage Changer /dev/sg1:1 Drives, 1 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\n      Storage Element 1:Fool\n", `line 3 "      Storage Element 1:Fool": not a line of mtx status`},
		{"  Storage Changer /dev/sg1:1 Drives, 2 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\n      Storage Element 2:Empty\n", "line 3 \"      Storage Element 2:Empty\": slot 2 out of order (expected 1)"},
		{"  Storage Changer /dev/sg1:1 Drives, 2 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\n      Storage Element 1:Empty\n", "the header says 2 slots, 1 listed"},
		{"  Storage Changer /dev/sg1:1 Drives, 1 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty:VolumeTag = X\n      Storage Element 1:Empty\n", "line 2 \"Data Transfer Element 0:Empty:VolumeTag = X\": cannot read the volume tag"},
	} {
		_, err := tape.ParseStatus([]byte(c.out))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseStatus(%q): %v, want %q", c.out, err, c.want)
		}
	}
}

// changer sets up a shelf of cartridges in a fake changer whose mtx is
// first in PATH.
func changer(t *testing.T, capacity, ew int64, slots ...string) (*sttest.Shelf, *tape.Changer) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("the fake mtx needs sh")
	}
	s := sttest.NewShelf(t.TempDir())
	for _, tag := range slots {
		if tag != "" {
			if err := s.AddCartridge(tag, capacity, ew); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin := t.TempDir()
	if _, err := s.InstallMtx(bin, slots, 1); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return s, &tape.Changer{Device: filepath.Join(s.Dir, "sg1")}
}

// nst0 is the device path of drive 0 of the shelf: a path of its own, so
// that the state the tape package keeps per drive is the test's.
func nst0(s *sttest.Shelf) string { return filepath.Join(s.Dir, "nst0") }

func TestFakeMtx(t *testing.T) {
	s, c := changer(t, 1<<20, 1<<19, "V1", "", "V3")
	ctx := context.Background()
	inv, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Drives) != 1 || inv.Drives[0].Full || len(inv.Slots) != 3 || inv.Slots[2].Tag != "V3" || inv.Slots[1].Full {
		t.Fatalf("inventory %+v", inv)
	}
	if err := c.Load(ctx, 3, 0); err != nil {
		t.Fatal(err)
	}
	if tag, _ := s.Loaded(0); tag != "V3" {
		t.Fatalf("drive 0 holds %q after load 3", tag)
	}
	inv, _ = c.Status(ctx)
	if d := inv.Drives[0]; !d.Full || d.Tag != "V3" || d.Source != 3 || inv.Slots[2].Full {
		t.Fatalf("after load: %+v", inv)
	}
	if err := c.Load(ctx, 1, 0); err == nil || !strings.Contains(err.Error(), "Drive 0 Full (Storage Element 3 loaded)") {
		t.Fatalf("load into a full drive: %v", err)
	}
	if err := c.Unload(ctx, 1, 0); err == nil || !strings.Contains(err.Error(), "Storage Element 1 is Already Full") {
		t.Fatalf("unload into a full slot: %v", err)
	}
	if err := c.Unload(ctx, 2, 0); err != nil {
		t.Fatal(err)
	}
	if tag, _ := s.Loaded(0); tag != "" {
		t.Fatalf("drive 0 holds %q after unload", tag)
	}
	inv, _ = c.Status(ctx)
	if inv.Drives[0].Full || inv.Slots[1].Tag != "V3" {
		t.Fatalf("after unload to 2: %+v", inv)
	}
	if err := c.Load(ctx, 3, 0); err == nil || !strings.Contains(err.Error(), "Source Element Address 3 is Empty") {
		t.Fatalf("load from an empty slot: %v", err)
	}
	bad := &tape.Changer{Device: "/dev/sg1", Command: "/nonexistent/mtx"}
	if _, err := bad.Status(ctx); err == nil {
		t.Fatal("status with a missing mtx succeeded")
	}
}

func TestLibraryChanger(t *testing.T) {
	s, c := changer(t, 20*bs, 16*bs, "V1", "CLN1", "V2", "V3")
	s.AddCartridge("CLN1", bs*4, bs*2)
	ctx := context.Background()
	lib, err := tape.New(tape.Options{Path: nst0(s), Changer: c, Open: s.Open})
	if err != nil {
		t.Fatal(err)
	}
	m, ref, err := lib.Create(ctx, "DAILY-1", bs)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "V1" {
		t.Fatalf("first new volume on %s, want V1", ref)
	}
	writeBlocks(t, m, 0, 3, 1)
	// A second medium while V1 is open: the changer swaps the cartridges
	// as each is used, and each keeps its place.
	m2, ref2, err := lib.Create(ctx, "DAILY-2", bs)
	if err != nil || ref2 != "V2" {
		t.Fatalf("second new volume while V1 is open: %s, %v; want V2 (CLN1 cleans)", ref2, err)
	}
	if tag, _ := s.Loaded(0); tag != "V2" {
		t.Fatalf("drive holds %s, want V2", tag)
	}
	writeBlocks(t, m2, 0, 2, 2)
	writeBlocks(t, m, 3, 5, 1)        // V1 again
	if err := m2.Sync(); err != nil { // V2 was flushed when it left the drive
		t.Fatal(err)
	}
	if tag, _ := s.Loaded(0); tag != "V1" {
		t.Fatalf("drive holds %s after writing V1's medium, want V1", tag)
	}
	// V2's session got its filemark when V1 took the drive: closing it
	// needs no load.
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if lib.Loads() != 3 {
		t.Errorf("%d loads, want 3 (V1, V2, V1)", lib.Loads())
	}
	for tag, blocks := range map[string]int{"V1": 5, "V2": 2} {
		cart, _ := s.Cartridge(tag)
		if cart.Blocks() != blocks {
			t.Errorf("%s holds %d blocks, want %d", tag, cart.Blocks(), blocks)
		}
		if cart.Objects[len(cart.Objects)-1] != nil {
			t.Errorf("%s does not end with a filemark", tag)
		}
	}
	if _, _, err := lib.Create(ctx, "V1", bs); !errors.Is(err, device.ErrExists) {
		t.Fatalf("Create on the named cartridge V1 with data: %v, want ErrExists", err)
	}
	med, err := lib.Open(ctx, "V1", device.ReadOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, bs)
	for n := int64(0); n < 5; n++ {
		if err := med.ReadBlock(b); err != nil || binary.LittleEndian.Uint64(b[24:]) != uint64(n) {
			t.Fatalf("V1 block %d: %v", n, err)
		}
	}
	med.Close()
	if _, err := lib.Open(ctx, "NOPE", device.ReadOnly, 0); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("Open of an unknown barcode: %v, want ErrNoVolume", err)
	}
	found, err := lib.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, f := range found {
		refs = append(refs, f.Ref)
	}
	if strings.Join(refs, " ") != "V1 V2" {
		t.Fatalf("List: %v, want V1 V2 (V3 is blank, CLN1 cleans)", refs)
	}
	med, err = lib.Erase(ctx, "V2", bs)
	if err != nil {
		t.Fatal(err)
	}
	if med.Position() != 0 || med.(*tape.Medium).Blocks() != 0 {
		t.Fatal("Erase did not empty V2")
	}
	med.Close()
	cart, _ := s.Cartridge("V2")
	if len(cart.Objects) != 0 {
		t.Fatalf("V2 after Erase holds %d objects", len(cart.Objects))
	}
}

func TestLibrarySingleDrive(t *testing.T) {
	s := shelf(t, 1<<20, 1<<19)
	ctx := context.Background()
	lib, err := tape.New(tape.Options{Path: nst0(s), Open: s.Open})
	if err != nil {
		t.Fatal(err)
	}
	m, ref, err := lib.Create(ctx, "ANY", bs)
	if err != nil || ref != "nst0" {
		t.Fatalf("Create: %s, %v", ref, err)
	}
	writeBlocks(t, m, 0, 2, 1)
	m.Close()
	if _, _, err := lib.Create(ctx, "ANY", bs); !errors.Is(err, tape.ErrNotBlank) {
		t.Fatalf("Create on the used cartridge: %v, want ErrNotBlank", err)
	}
	if _, err := lib.Open(ctx, "other", device.ReadOnly, 0); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("Open(other): %v, want ErrNoVolume", err)
	}
	med, err := lib.Open(ctx, "nst0", device.Append, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lib.Open(ctx, "nst0", device.ReadOnly, 0); !errors.Is(err, device.ErrBusy) {
		t.Fatalf("a second Open of the drive without a changer: %v, want ErrBusy", err)
	}
	med.Close()
	if _, err := tape.New(tape.Options{}); err == nil {
		t.Fatal("New without a path succeeded")
	}
}

// Two drives of one changer: Creates at once take different cartridges;
// a cartridge left in one drive is moved to the other when it is wanted
// there, unless a medium is open on it.
func TestTwoDrives(t *testing.T) {
	s := sttest.NewShelf(t.TempDir())
	tags := []string{"W1", "W2", "W3", "W4"}
	for _, tag := range tags {
		if err := s.AddCartridge(tag, 1<<20, 1<<19); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	if _, err := s.InstallMtx(bin, tags, 2); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	c := &tape.Changer{Device: filepath.Join(s.Dir, "sg1")}
	paths := map[int]string{0: filepath.Join(s.Dir, "nst0"), 1: filepath.Join(s.Dir, "nst1")}
	var libs [2]*tape.Library
	for i := range libs {
		var err error
		if libs[i], err = tape.New(tape.Options{Path: paths[i], Changer: c, Drive: i, Peers: paths, Open: s.Open}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	var refs [2]string
	errs := make(chan error, 2)
	for i, lib := range libs {
		go func() {
			m, ref, err := lib.Create(ctx, "", bs)
			if err == nil {
				refs[i] = ref
				for n := int64(0); n < 2 && err == nil; n++ {
					err = m.WriteBlock(block(n, byte(i)))
				}
				if cerr := m.Close(); err == nil {
					err = cerr
				}
			}
			errs <- err
		}()
	}
	for range libs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if refs[0] == refs[1] || refs[0] == "" {
		t.Fatalf("both drives took %q and %q", refs[0], refs[1])
	}
	for i, tag := range refs {
		if got, _ := s.Loaded(i); got != tag {
			t.Fatalf("drive %d holds %q, want %q", i, got, tag)
		}
	}
	// Drive 0 wants drive 1's cartridge: ejected there, moved.
	m, err := libs[0].Open(ctx, refs[1], device.ReadOnly, 0)
	if err != nil {
		t.Fatalf("Open of the cartridge in the other drive: %v", err)
	}
	if got, _ := s.Loaded(0); got != refs[1] {
		t.Fatalf("drive 0 holds %q, want %q", got, refs[1])
	}
	b := make([]byte, bs)
	if err := m.ReadBlock(b); err != nil || b[64] != 1 {
		t.Fatalf("read: %v, tag %d", err, b[64])
	}
	// Drive 1 wants it back while drive 0 has it open: busy.
	if _, err := libs[1].Open(ctx, refs[1], device.ReadOnly, 0); !errors.Is(err, device.ErrBusy) {
		t.Fatalf("Open of a cartridge mounted in the other drive: %v, want ErrBusy", err)
	}
	m.Close()
	alone, _ := tape.New(tape.Options{Path: paths[1], Changer: c, Drive: 1, Open: s.Open})
	if _, err := alone.Open(ctx, refs[1], device.ReadOnly, 0); err == nil || !strings.Contains(err.Error(), "no device path known") {
		t.Fatalf("a move from a drive of unknown device: %v", err)
	}
}
