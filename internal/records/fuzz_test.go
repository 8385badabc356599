package records

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// fzStream returns the records of a small object by hand: Begin, data
// records of chunk bytes, End; compressed data records when zstd is set
// (those that compress).
func fzStream(t testing.TB, data []byte, chunk int, zstd bool) []byte {
	id := ID{0x01, 0x94, 0x2a, 0x5c, 0, 0, 0x70, 0x0b, 0x80, 0, 0, 0, 0, 0, 0, 1}
	begin := BeginInfo{Source: "S", Client: "c", Level: "full", Time: time.Unix(1, 0).UTC(), Content: "pax"}
	if zstd {
		begin.Compression = CompressionZstd
	}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := Encode(nil, TypeBegin, id, 0, 0, js(begin))
	seq := uint32(1)
	for off := 0; off < len(data); off += chunk {
		p := data[off:min(off+chunk, len(data))]
		if zstd {
			var rec []byte
			recs, _, err := zstdRecords(id, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if h, rp, err := Decode(r); err == nil && h.Type == TypeDataZstd {
					rec = Encode(nil, TypeDataZstd, id, uint64(off), seq, rp)
				}
			}
			if rec == nil { // not worth compressing
				rec = Encode(nil, TypeData, id, uint64(off), seq, p)
			}
			out = append(out, rec...)
		} else {
			out = Encode(out, TypeData, id, uint64(off), seq, p)
		}
		seq++
	}
	sum := sha256.Sum256(data)
	end := EndInfo{Length: uint64(len(data)), Records: seq - 1, Hash: HashName + hex.EncodeToString(sum[:])}
	return Encode(out, TypeEnd, id, uint64(len(data)), seq, js(end))
}

// FuzzAssembler decodes a run of records and gives them to an Assembler of
// the first one's object, as a restore does: it stops at the first error,
// and an object it accepts to its End record is the bytes the data
// records carry, with the End record's length, count and hash.
func FuzzAssembler(f *testing.F) {
	text := bytes.Repeat([]byte("an object stream "), 12)
	f.Add(fzStream(f, text, 50, false))
	f.Add(fzStream(f, text, 80, true))
	f.Add(fzStream(f, nil, 1, false))
	cut := fzStream(f, text, 50, false)
	f.Add(cut[:len(cut)-30])
	f.Fuzz(func(t *testing.T, data []byte) {
		var a *Assembler
		var out, want bytes.Buffer
		for p := data; len(p) > 0; {
			h, payload, err := Decode(p)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Decode error %v is not ErrCorrupt", err)
				}
				return
			}
			p = p[h.Size():]
			if a == nil {
				a = NewAssembler(h.Object, &out)
			}
			if h.Type.IsData() && a.Offset() == h.Offset {
				if d, err := Data(h, payload, nil); err == nil {
					want.Write(d)
				}
			}
			if err := a.Add(h, payload); err != nil {
				if err.Error() == "" {
					t.Fatalf("empty error")
				}
				return
			}
			if uint64(out.Len()) != a.Offset() || !bytes.Equal(out.Bytes(), want.Bytes()) {
				t.Fatalf("%d bytes written, offset %d, %d bytes carried", out.Len(), a.Offset(), want.Len())
			}
			if a.Done() {
				sum := sha256.Sum256(out.Bytes())
				e := a.End()
				if e.Length != uint64(out.Len()) || e.Hash != HashName+hex.EncodeToString(sum[:]) || e.Aborted != "" {
					t.Fatalf("accepted end %+v for %d bytes", e, out.Len())
				}
				if h2, p2, err := Decode(p); err == nil {
					if err := a.Add(h2, p2); err == nil {
						t.Fatalf("a record after the end was accepted")
					}
				}
				return
			}
		}
	})
}

// TestFuzzAssemblerSeeds checks that the streams FuzzAssembler starts from
// assemble whole, so that the fuzzer starts from valid objects.
func TestFuzzAssemblerSeeds(t *testing.T) {
	text := bytes.Repeat([]byte("an object stream "), 12)
	for _, zstd := range []bool{false, true} {
		data := fzStream(t, text, 50, zstd)
		var out bytes.Buffer
		var a *Assembler
		compressed := 0
		for len(data) > 0 {
			h, p, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if h.Type == TypeDataZstd {
				compressed++
			}
			if a == nil {
				a = NewAssembler(h.Object, &out)
			}
			if err := a.Add(h, p); err != nil {
				t.Fatalf("zstd %v: %v", zstd, err)
			}
			data = data[h.Size():]
		}
		if !a.Done() || !bytes.Equal(out.Bytes(), text) || zstd != (compressed > 0) {
			t.Fatalf("zstd %v: done %v, %d bytes, %d compressed records", zstd, a.Done(), out.Len(), compressed)
		}
	}
}
