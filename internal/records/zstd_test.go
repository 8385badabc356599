package records

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// zstdRecords writes data as a compressed object and returns its records.
func zstdRecords(id ID, data []byte) ([][]byte, EndInfo, error) {
	var pool Pool
	var recs [][]byte
	w, err := NewStreamWriter(id, BeginInfo{Source: "S", Level: "full", Time: time.Unix(1, 0), Content: "pax", Compression: CompressionZstd}, &pool, collect(&recs))
	if err != nil {
		return nil, EndInfo{}, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, EndInfo{}, err
	}
	end, err := w.Close()
	return recs, end, err
}

func zstdStream(t *testing.T, id ID, data []byte) ([][]byte, EndInfo) {
	t.Helper()
	recs, end, err := zstdRecords(id, data)
	if err != nil {
		t.Fatal(err)
	}
	return recs, end
}

// A compressed object: text-like data shrinks into TypeDataZstd records,
// random data stays in plain Data records, and the assembler gives back the
// bytes with the length, offsets and hash of the uncompressed stream.
func TestZstdRoundTrip(t *testing.T) {
	text := bytes.Repeat([]byte("daisy backs up every copy in one pass. "), 20000) // ~780 KB
	noise := make([]byte, 300<<10)
	rand.Read(noise)
	data := append(append([]byte(nil), text...), noise...)
	id := NewID()
	recs, end := zstdStream(t, id, data)
	sum := sha256.Sum256(data)
	if end.Length != uint64(len(data)) || end.Hash != HashName+hex.EncodeToString(sum[:]) {
		t.Fatalf("end %+v: not the uncompressed length and hash", end)
	}
	if end.Stored >= end.Length || end.Stored < uint64(len(noise)) {
		t.Fatalf("stored %d of %d bytes: the text should shrink, the noise not", end.Stored, end.Length)
	}
	var zstd, plain int
	var got bytes.Buffer
	a := NewAssembler(id, &got)
	var off uint64
	for i, b := range recs {
		h, p, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Type {
		case TypeDataZstd:
			zstd++
		case TypeData:
			plain++
		}
		if h.Type.IsData() {
			if h.Offset != off {
				t.Fatalf("record %d at offset %d, want %d", i, h.Offset, off)
			}
			n, err := DataLen(h, p)
			if err != nil {
				t.Fatal(err)
			}
			off += uint64(n)
		}
		if err := a.Add(h, p); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if !a.Done() || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("assembled %d bytes, want %d", got.Len(), len(data))
	}
	if zstd == 0 || plain == 0 {
		t.Fatalf("%d compressed and %d plain data records; want both", zstd, plain)
	}
}

// Bad compressed records are errors, never panics. (A flipped byte inside
// the frame may decode to other bytes of the right length: the record CRC,
// checked before, is what catches that, as for plain records.)
func TestZstdCorrupt(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 20000)
	id := NewID()
	recs, _ := zstdStream(t, id, data)
	h, p, err := Decode(recs[1])
	if err != nil || h.Type != TypeDataZstd {
		t.Fatalf("record 1: %v %v", h.Type, err)
	}
	cases := map[string]func([]byte) []byte{
		"short":       func(p []byte) []byte { return p[:3] },
		"zero length": func(p []byte) []byte { binary.LittleEndian.PutUint32(p, 0); return p },
		"length lies": func(p []byte) []byte { binary.LittleEndian.PutUint32(p, binary.LittleEndian.Uint32(p)-1); return p },
		"huge length": func(p []byte) []byte { binary.LittleEndian.PutUint32(p, 1<<31); return p },
		"not a frame": func(p []byte) []byte { p[4] ^= 0xff; return p },
		"frame cut":   func(p []byte) []byte { return p[:len(p)-5] },
	}
	for name, f := range cases {
		bad := f(append([]byte(nil), p...))
		if _, err := Data(h, bad, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	// A compressed record in an object whose begin names no compression.
	var pool Pool
	var plainRecs [][]byte
	w, _ := NewStreamWriter(id, BeginInfo{}, &pool, collect(&plainRecs))
	w.Close()
	bh, bp, _ := Decode(plainRecs[0])
	a := NewAssembler(id, &bytes.Buffer{})
	if err := a.Add(bh, bp); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(h, p); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("compressed record without compression in the begin: %v", err)
	}
	if _, err := NewStreamWriter(id, BeginInfo{Compression: "lz4"}, &pool, collect(&plainRecs)); err == nil {
		t.Fatal("unknown compression accepted")
	}
}

// Whatever the payload of a compressed record, Data returns bytes of the
// stated length or an error; it never panics or returns more.
func FuzzZstdData(f *testing.F) {
	recs, _, err := zstdRecords(NewID(), bytes.Repeat([]byte("fuzz seed "), 10000))
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range recs {
		if h, p, err := Decode(b); err == nil && h.Type == TypeDataZstd {
			f.Add(p)
		}
	}
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0, 0, 0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, p []byte) {
		h := Header{Type: TypeDataZstd}
		out, err := Data(h, p, nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		n, _ := DataLen(h, p)
		if len(out) != int(n) || n > MaxPayload {
			t.Fatalf("%d bytes out, record says %d", len(out), n)
		}
	})
}
