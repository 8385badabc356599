package extract_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"daisy/internal/agent"
	"daisy/internal/extract"
)

// fzTar writes a tar stream of the entries a daisy archive holds: pax
// headers (long names, xattrs), links, and a deletion entry.
func fzTar(t testing.TB, long bool, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	name := "d/f"
	if long {
		name = "d/" + strings.Repeat("n", 120)
	}
	hdrs := []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt, Format: tar.FormatPAX},
		{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content)), ModTime: mt, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.user.a": "v"}},
		{Name: "d/s", Typeflag: tar.TypeSymlink, Linkname: "f", ModTime: mt, Format: tar.FormatPAX},
		{Name: "d/h", Typeflag: tar.TypeLink, Linkname: name, ModTime: mt, Format: tar.FormatPAX},
		{Name: agent.DeletedName, Typeflag: tar.TypeXGlobalHeader, Format: tar.FormatPAX,
			PAXRecords: map[string]string{agent.DeletedKey: "d/gone\x00d/gone/x"}},
		{Name: "e", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: mt, Format: tar.FormatPAX},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, content[:h.Size])
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzEntries walks a tar stream with extract.Entries, as the catalog
// rebuild and a restore do. The offsets it gives are block aligned, in
// order, inside the stream, and the entry read again from its offset alone
// (as a restore reads an entry picked by offset) is the same entry; a
// deletion entry names no path with a NUL.
func FuzzEntries(f *testing.F) {
	f.Add(fzTar(f, false, "hello"))
	f.Add(fzTar(f, true, strings.Repeat("x", 700)))
	f.Add([]byte("not a tar stream"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fzEntries(t, data)
		if fixed := fzFixChecksums(data); !bytes.Equal(fixed, data) {
			fzEntries(t, fixed)
		}
	})
}

// fzFixChecksums returns data with the checksum of every 512-byte block
// that has the ustar magic made right, so that the fuzzer gets past the
// checksum to the fields of the headers it mutates.
func fzFixChecksums(data []byte) []byte {
	b := bytes.Clone(data)
	for off := 0; off+512 <= len(b); off += 512 {
		blk := b[off : off+512]
		if string(blk[257:262]) != "ustar" {
			continue
		}
		copy(blk[148:156], "        ")
		sum := 0
		for _, c := range blk {
			sum += int(c)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return b
}

func fzEntries(t *testing.T, data []byte) {
	prev := int64(-1)
	n := 0
	err := extract.Entries(bytes.NewReader(data), func(tr *tar.Reader, hdr *tar.Header, off int64) error {
		if off <= prev || off%512 != 0 || off >= int64(len(data)) {
			t.Fatalf("entry %d (%q) at offset %d, the one before at %d, %d bytes", n, hdr.Name, off, prev, len(data))
		}
		prev = off
		n++
		again, err := tar.NewReader(bytes.NewReader(data[off:])).Next()
		if err != nil || again.Name != hdr.Name || again.Typeflag != hdr.Typeflag || again.Size != hdr.Size || again.Linkname != hdr.Linkname {
			t.Fatalf("entry %q (type %q, %d bytes) at offset %d reads from there as %+v, %v", hdr.Name, hdr.Typeflag, hdr.Size, off, again, err)
		}
		if paths, ok := agent.DeletedPaths(hdr); ok {
			if hdr.Typeflag != tar.TypeXGlobalHeader {
				t.Fatalf("deletion entry of type %q", hdr.Typeflag)
			}
			for _, p := range paths {
				if strings.Contains(p, "\x00") {
					t.Fatalf("deleted path %q", p)
				}
			}
		}
		if n%2 == 0 {
			// Read part of the content: Entries reads past the rest.
			io.CopyN(io.Discard, tr, 100)
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "at offset") {
		t.Fatalf("Entries error %v does not name the offset", err)
	}
}

// TestFuzzEntriesSeeds checks that the seed streams walk whole, with their
// deletion entry.
func TestFuzzEntriesSeeds(t *testing.T) {
	for _, long := range []bool{false, true} {
		var names []string
		deleted := 0
		err := extract.Entries(bytes.NewReader(fzTar(t, long, strings.Repeat("x", 700))), func(_ *tar.Reader, hdr *tar.Header, _ int64) error {
			names = append(names, hdr.Name)
			if p, ok := agent.DeletedPaths(hdr); ok {
				deleted += len(p)
			}
			return nil
		})
		if err != nil || len(names) != 6 || deleted != 2 {
			t.Fatalf("long %v: entries %q, %d deleted, %v", long, names, deleted, err)
		}
	}
}
