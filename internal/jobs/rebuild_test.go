package jobs

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/agent"
	"daisy/internal/catalog"
	"daisy/internal/testtree"
)

// allTarEntries collects what tarEntries gives of object "o".
func allTarEntries(r io.Reader) ([]catalog.File, error) {
	var out []catalog.File
	n, err := tarEntries("o", r, func(b []catalog.File) error { out = append(out, b...); return nil })
	if err == nil && n != int64(len(out)) {
		err = fmt.Errorf("tarEntries says %d entries, gave %d", n, len(out))
	}
	return out, err
}

// tarEntries finds the files of a stream as the agent recorded them while
// writing it, offsets of pax extended headers included.
func TestTarEntriesMatchTheAgent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "src")
	if err := testtree.Make(dir, testtree.Spec{Seed: 7, SmallFiles: 60, LargeFiles: 1, LargeSize: 300 << 10}); err != nil {
		t.Fatal(err)
	}
	// A name longer than the 100 bytes of a ustar header needs a pax one.
	long := filepath.Join(dir, strings.Repeat("long-directory-name/", 8))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(long, strings.Repeat("f", 120)), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	var want []catalog.File
	_, err := agent.Archive(context.Background(), &stream, agent.Options{
		Paths: []string{dir},
		OnEntry: func(e agent.Entry) {
			want = append(want, catalog.File{ObjectID: "o", Path: "/" + e.Name, Type: e.Type, Size: e.Size, Mode: e.Mode,
				UID: e.UID, GID: e.GID, MTime: e.ModTime, Link: e.LinkName, Offset: e.Offset})
		},
		OnError: func(path string, err error) { t.Errorf("%s: %v", path, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	data := stream.Bytes()
	got, err := allTarEntries(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, the agent wrote %d", len(got), len(want))
	}
	pax := 0
	for i := range want {
		w, g := want[i], got[i]
		if !w.MTime.Equal(g.MTime) {
			t.Fatalf("entry %d %s: mtime %v, the agent's %v", i, w.Path, g.MTime, w.MTime)
		}
		g.MTime = w.MTime
		if g != w {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
		// The header at the offset starts the entry: a pax extended header
		// or the entry's own.
		hdr := data[g.Offset : g.Offset+512]
		if hdr[156] == tar.TypeXHeader {
			pax++
		}
		if i > 0 && got[i-1].Offset >= g.Offset {
			t.Fatalf("offsets do not grow: %d then %d", got[i-1].Offset, g.Offset)
		}
	}
	if pax == 0 {
		t.Fatal("no entry had a pax extended header: the test does not test them")
	}
}

func TestTarEntriesBadStream(t *testing.T) {
	if _, err := allTarEntries(strings.NewReader(strings.Repeat("not a tar stream ", 100))); err == nil {
		t.Fatal("tarEntries accepted garbage")
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "a", Size: 1000, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Write(make([]byte, 1000))
	tw.Close()
	if _, err := allTarEntries(io.LimitReader(&b, 900)); err == nil {
		t.Fatal("tarEntries accepted a cut stream")
	}
}
