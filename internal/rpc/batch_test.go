package rpc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"daisy/internal/records"
)

func testRecords(t testing.TB, n int) ([]*records.Record, *records.Pool) {
	t.Helper()
	pool := &records.Pool{}
	id := records.NewID()
	var rs []*records.Record
	for i := range n {
		size := 1 + i*997%records.MaxPayload
		r := pool.New(size)
		p := r.Payload()
		for j := range p {
			p[j] = byte(i + j)
		}
		r.Seal(records.TypeData, id, uint64(i)*records.MaxPayload, uint32(i))
		rs = append(rs, r)
	}
	return rs, pool
}

func TestBatchRoundTrip(t *testing.T) {
	rs, pool := testRecords(t, 200)
	var batches [][]byte
	b := NewBatcher(200_000, func(p *Batch) error {
		batches = append(batches, bytes.Clone(p.Bytes()))
		return nil
	})
	for _, r := range rs {
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(batches) < 2 {
		t.Fatalf("%d batches of a 200 kB limit for %d records", len(batches), len(rs))
	}
	var got []*records.Record
	for _, p := range batches {
		if len(p) > 200_000+records.MaxRecordSize {
			t.Errorf("batch of %d bytes beyond its limit and one record", len(p))
		}
		if err := Unbatch(pool, p, func(r *records.Record) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(rs) || b.Records() != int64(len(rs)) {
		t.Fatalf("%d records back (%d counted) of %d", len(got), b.Records(), len(rs))
	}
	for i := range rs {
		if !bytes.Equal(got[i].Bytes(), rs[i].Bytes()) {
			t.Fatalf("record %d changed on its way", i)
		}
	}
}

// A flipped byte or a cut batch is refused with the record's position; the
// records before it were delivered.
func TestUnbatchRefusesDamage(t *testing.T) {
	rs, pool := testRecords(t, 5)
	var data []byte
	for _, r := range rs {
		data = append(data, r.Bytes()...)
	}
	third := len(rs[0].Bytes()) + len(rs[1].Bytes())
	flipped := bytes.Clone(data)
	flipped[third+records.HeaderSize+3] ^= 0x10
	n := 0
	err := Unbatch(pool, flipped, func(*records.Record) error { n++; return nil })
	if !errors.Is(err, records.ErrCorrupt) || !strings.Contains(err.Error(), "record 2 of the batch") || n != 2 {
		t.Errorf("flipped payload byte: err %v after %d records", err, n)
	}
	n = 0
	err = Unbatch(pool, data[:len(data)-7], func(*records.Record) error { n++; return nil })
	if !errors.Is(err, records.ErrCorrupt) || !strings.Contains(err.Error(), "record 4") || n != 4 {
		t.Errorf("cut batch: err %v after %d records", err, n)
	}
	sink := errors.New("buffer failed")
	if err := Unbatch(pool, data, func(*records.Record) error { return sink }); !errors.Is(err, sink) {
		t.Errorf("consumer's error: %v", err)
	}
}
