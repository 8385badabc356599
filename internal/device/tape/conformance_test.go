package tape_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/devicetest"
	"daisy/internal/device/tape"
	"daisy/internal/device/tape/sttest"
	"daisy/internal/volume"
)

// newChangerLibrary is a changer of 8 blank cartridges (C01...) and one
// drive, on the fake st driver and the fake mtx; each cartridge gives the
// early warning after ew bytes and ends reserve bytes later.
func newChangerLibrary(t *testing.T, ew, reserve int64) device.Library {
	t.Helper()
	s := sttest.NewShelf(t.TempDir())
	var slots []string
	for i := 1; i <= 8; i++ {
		tag := fmt.Sprintf("C%02d", i)
		if err := s.AddCartridge(tag, ew+reserve, ew); err != nil {
			t.Fatal(err)
		}
		slots = append(slots, tag)
	}
	bin := filepath.Join(s.Dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InstallMtx(bin, slots, 1); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	lib, err := tape.New(tape.Options{Path: filepath.Join(s.Dir, "nst0"), Changer: &tape.Changer{Device: filepath.Join(s.Dir, "sg1")}, Open: s.Open})
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// The conformance suite on the fake st driver through the fake changer:
// several media at once (the changer swaps cartridges).
func TestConformance(t *testing.T) {
	const bs = volume.MinBlockSize
	devicetest.Run(t, devicetest.Config{
		New: func(t *testing.T) device.Library { return newChangerLibrary(t, 256*bs, 16*bs) },
		Small: func(t *testing.T, blocks int) device.Library {
			// The write that passes the warning is finished: with the
			// warning after blocks-1 blocks, the blocks-th is the last
			// before ENOSPC.
			return newChangerLibrary(t, int64(blocks-1)*bs, 4*bs)
		},
		BlockSize: bs,
	})
}
