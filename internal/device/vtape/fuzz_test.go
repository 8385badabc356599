package vtape

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fzLabelled returns a volume file of blocks of bs bytes (at least 64): a
// daisy block header giving bs, then blocks filled with their number, the
// last one cut to tail bytes if tail > 0.
func fzLabelled(bs, blocks, tail int) []byte {
	b := make([]byte, bs*blocks+tail)
	copy(b, labelMagic)
	binary.LittleEndian.PutUint32(b[labelSizeField:], uint32(bs))
	for i := bs; i < len(b); i++ {
		b[i] = byte(i / bs)
	}
	return b
}

// FuzzOpen mounts a volume file, with the block size from its label
// (blocks as small as the label allows, so that inputs stay small) or set,
// and reads it to the end, then again after Locate: every read gives the
// file's bytes of that block, padded with zeros and io.ErrUnexpectedEOF
// for a partial last block, then io.EOF.
func FuzzOpen(f *testing.F) {
	f.Add(fzLabelled(64, 3, 0), uint16(0), uint8(1))
	f.Add(fzLabelled(100, 2, 30), uint16(0), uint8(2))
	f.Add(fzLabelled(512, 2, 0), uint16(512), uint8(0))
	f.Add(fzLabelled(64, 1, 0), uint16(128), uint8(0))
	f.Add([]byte("DSY1 not a label"), uint16(0), uint8(0))
	// One directory in memory for all the inputs of this process.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "fuzzvtape"); err == nil {
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	path := filepath.Join(dir, "vol")
	f.Fuzz(func(t *testing.T, data []byte, bs uint16, at uint8) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := Open(path, Options{BlockSize: int(bs)})
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Open: empty error")
			}
			return
		}
		defer m.Close()
		n := m.BlockSize()
		if n < 1 || n > MaxBlockSize || bs != 0 && n != int(bs) || m.Size() != int64(len(data)) {
			t.Fatalf("Open gives block size %d, size %d, for %d bytes with block size %d", n, m.Size(), len(data), bs)
		}
		if n > 1<<16 {
			return // the label gives a block size too large to read here
		}
		want := (len(data) + n - 1) / n
		if m.Blocks() != int64(want) {
			t.Fatalf("%d blocks of %d bytes in %d bytes, want %d", m.Blocks(), n, len(data), want)
		}
		buf := make([]byte, n)
		junk := bytes.Repeat([]byte{0xa5}, n)
		readFrom := func(from int) {
			for i := from; ; i++ {
				if m.Position() != int64(i) {
					t.Fatalf("at block %d, position %d", i, m.Position())
				}
				copy(buf, junk) // what a read must overwrite
				err := m.ReadBlock(buf)
				if i >= want {
					if err != io.EOF {
						t.Fatalf("read of block %d of %d: %v, want io.EOF", i, want, err)
					}
					return
				}
				part := data[i*n : min((i+1)*n, len(data))]
				if !equalPadded(buf, part) {
					t.Fatalf("block %d of %d bytes reads differently", i, n)
				}
				if partial := len(part) < n; partial != errors.Is(err, io.ErrUnexpectedEOF) || !partial && err != nil {
					t.Fatalf("read of block %d (%d of %d bytes): %v", i, len(part), n, err)
				}
			}
		}
		readFrom(0)
		if err := m.Locate(int64(at)); (err == nil) != (int(at) <= want) {
			t.Fatalf("Locate(%d) of %d blocks: %v", at, want, err)
		} else if err == nil {
			readFrom(int(at))
		}
	})
}

// equalPadded reports whether b is p followed by zeros.
func equalPadded(b, p []byte) bool {
	if !bytes.Equal(b[:len(p)], p) {
		return false
	}
	for _, c := range b[len(p):] {
		if c != 0 {
			return false
		}
	}
	return true
}
