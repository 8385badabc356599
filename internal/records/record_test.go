package records

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"
)

// collect returns an emit function that keeps copies of the records' bytes.
func collect(out *[][]byte) func(*Record) error {
	return func(r *Record) error {
		*out = append(*out, append([]byte(nil), r.Bytes()...))
		r.Release()
		return nil
	}
}

func TestStreamRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, MaxPayload - 1, MaxPayload, MaxPayload + 1, 3*MaxPayload + 17, 1 << 20} {
		var pool Pool
		var recs [][]byte
		id := NewID()
		data := make([]byte, size)
		rand.Read(data)
		w, err := NewStreamWriter(id, BeginInfo{Source: "D1", Client: "c", Level: "full", Time: time.Unix(1, 0), Content: "pax"}, &pool, collect(&recs))
		if err != nil {
			t.Fatal(err)
		}
		// Write in odd pieces, and through ReadFrom, to exercise both paths.
		half := size / 2
		if _, err := w.Write(data[:half]); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ReadFrom(bytes.NewReader(data[half:])); err != nil {
			t.Fatal(err)
		}
		end, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if end.Length != uint64(size) {
			t.Fatalf("size %d: end says %d bytes", size, end.Length)
		}
		var got bytes.Buffer
		a := NewAssembler(id, &got)
		for i, b := range recs {
			h, p, err := Decode(b)
			if err != nil {
				t.Fatalf("size %d record %d: %v", size, i, err)
			}
			if h.Type == TypeData && len(p) > MaxPayload {
				t.Fatalf("record of %d bytes", len(p))
			}
			if err := a.Add(h, p); err != nil {
				t.Fatalf("size %d record %d: %v", size, i, err)
			}
		}
		if !a.Done() || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("size %d: assembled %d bytes, done=%v", size, got.Len(), a.Done())
		}
		if a.Begin().Source != "D1" {
			t.Fatalf("begin info lost: %+v", a.Begin())
		}
	}
}

func TestDecodeDetectsDamage(t *testing.T) {
	rec := Encode(nil, TypeData, NewID(), 42, 1, []byte("some payload"))
	for i := range rec {
		bad := append([]byte(nil), rec...)
		bad[i] ^= 0x40
		if _, _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: Decode returned %v, want ErrCorrupt", i, err)
		}
	}
	if _, _, err := Decode(rec[:len(rec)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated record: %v", err)
	}
}

func TestAssemblerRefusesGapsAndBadHash(t *testing.T) {
	var pool Pool
	var recs [][]byte
	id := NewID()
	w, _ := NewStreamWriter(id, BeginInfo{}, &pool, collect(&recs))
	w.Write(make([]byte, 3*MaxPayload))
	w.Close()
	// A missing data record.
	a := NewAssembler(id, io.Discard)
	var err error
	for i, b := range recs {
		if i == 2 {
			continue
		}
		h, p, _ := Decode(b)
		if err = a.Add(h, p); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("gap: %v, want ErrCorrupt", err)
	}
	// Data changed consistently (CRC recomputed) is caught by the hash.
	a = NewAssembler(id, io.Discard)
	for i, b := range recs {
		h, p, _ := Decode(b)
		if i == 1 {
			p = append([]byte(nil), p...)
			p[0] ^= 1
		}
		err = a.Add(h, p)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("changed data: %v, want ErrCorrupt from the hash check", err)
	}
	// An aborted object is never complete.
	recs = nil
	w, _ = NewStreamWriter(id, BeginInfo{}, &pool, collect(&recs))
	w.Write([]byte("partial"))
	w.Abort("client went away")
	a = NewAssembler(id, io.Discard)
	for _, b := range recs {
		h, p, _ := Decode(b)
		err = a.Add(h, p)
	}
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("aborted object: %v, want ErrAborted", err)
	}
}

func TestPoolReusesReleasedRecords(t *testing.T) {
	var pool Pool
	r := pool.New(10)
	r.Retain(1)
	r.Release()
	r.Release()
	defer func() {
		if recover() == nil {
			t.Fatal("a third Release of a record with two references did not panic")
		}
	}()
	r.Release()
}

func BenchmarkStreamWriter(b *testing.B) {
	var pool Pool
	data := make([]byte, 1<<20)
	rand.Read(data)
	emit := func(r *Record) error { r.Release(); return nil }
	b.SetBytes(int64(len(data)))
	w, _ := NewStreamWriter(NewID(), BeginInfo{}, &pool, emit)
	for b.Loop() {
		w.Write(data)
	}
	w.Close()
}

func BenchmarkDecode(b *testing.B) {
	rec := Encode(nil, TypeData, NewID(), 0, 1, make([]byte, MaxPayload))
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, _, err := Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}
