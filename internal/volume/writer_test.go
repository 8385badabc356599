package volume

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"daisy/internal/device/vtape"
	"daisy/internal/records"
)

// A session whose last data block reaches the early warning still ends
// cleanly: Finish writes the SessionEnd into the reserve after it, as a
// trailer would be, instead of failing the whole session with
// ErrVolumeFull when nothing is left to carry to another volume.
func TestFinishAtEarlyWarning(t *testing.T) {
	const capacity = 8 * MinBlockSize // label, 5 blocks, the reserve of 2
	finishedAtWarning := false
	for n := 1; n <= 8; n++ {
		path := filepath.Join(t.TempDir(), "V")
		m, err := vtape.Create(path, vtape.Options{BlockSize: MinBlockSize, Capacity: capacity})
		if err != nil {
			t.Fatal(err)
		}
		l := Label{VolumeID: records.NewID(), Label: "V", Pool: "p", BlockSize: MinBlockSize, Created: rtTime}
		if err := Format(m, l); err != nil {
			t.Fatal(err)
		}
		l.Format = FormatVersion
		w, err := NewWriter(m, l, WriterOptions{Session: SessionInfo{Session: records.NewID()}, At: 1})
		if err != nil {
			t.Fatal(err)
		}
		// n records of one block each: the first n blocks after the
		// session's own.
		o := rtNewObj(1, n*50_000)
		full := false
		for _, rec := range append([][]byte{o.begin()}, o.dataRec(50_000)) {
			if err := w.Add(rec); err != nil {
				t.Fatal(err)
			}
		}
		for o.more() && !full {
			if err := w.Add(o.dataRec(50_000)); errors.Is(err, ErrVolumeFull) {
				full = true // a span, tested elsewhere
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if full {
			m.Close()
			break
		}
		if err := w.Add(o.end()); errors.Is(err, ErrVolumeFull) {
			m.Close()
			break
		}
		blocks := w.Blocks()
		if err := w.Finish(); err != nil {
			t.Fatalf("%d records: Finish: %v", n, err)
		}
		if w.full {
			finishedAtWarning = true
		}
		m.Close()
		// The volume reads back to the SessionEnd.
		m2, err := vtape.Open(path, vtape.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rd, err := NewReader(m2)
		if err != nil {
			t.Fatal(err)
		}
		var last records.Type
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			last = rec.Header.Type
		}
		m2.Close()
		if last != records.TypeSessionEnd {
			t.Fatalf("%d records (%d blocks before Finish): last record %s, want the session end", n, blocks, last)
		}
	}
	if !finishedAtWarning {
		t.Fatal("no session met the early warning in Finish: the test does not test it")
	}
}
