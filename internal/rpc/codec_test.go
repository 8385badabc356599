package rpc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"daisy/internal/records"
	pb "daisy/internal/rpc/daisypb"
)

// chunks cuts b into a BufferSlice of pieces of size n (the last shorter),
// as gRPC hands a message over in its frames.
func chunks(b []byte, n int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > n {
		s = append(s, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return append(s, mem.SliceBuffer(b))
}

func theCodec(t testing.TB) encoding.CodecV2 {
	c := encoding.GetCodecV2(gproto.Name)
	if _, ok := c.(codec); !ok {
		t.Fatalf("the registered %q codec is %T, not daisy's", gproto.Name, c)
	}
	return c
}

func batchOf(rs []*records.Record) []byte {
	var data []byte
	for _, r := range rs {
		data = append(data, r.Bytes()...)
	}
	return data
}

func pushMessage(t testing.TB, records []byte) []byte {
	t.Helper()
	b, err := proto.Marshal(&pb.PushMessage{Message: &pb.PushMessage_Batch{Batch: &pb.RecordBatch{Records: records}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unmarshal decodes msg, cut into frames of n bytes, into a PushIn.
func unmarshal(t *testing.T, c encoding.CodecV2, msg []byte, n int, pool *records.Pool) *PushIn {
	t.Helper()
	in := &PushIn{Pool: pool}
	if err := c.Unmarshal(chunks(msg, n), in); err != nil {
		t.Fatalf("unmarshal of %d bytes in frames of %d: %v", len(msg), n, err)
	}
	return in
}

func sameRecords(t *testing.T, got []*records.Record, want []*records.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Bytes(), want[i].Bytes()) {
			t.Fatalf("record %d changed on its way", i)
		}
	}
}

// A Batch marshalled by daisy's codec is the PushMessage protobuf-go
// would write, and comes back record for record, whatever the frames.
func TestCodecBatchRoundTrip(t *testing.T) {
	c := theCodec(t)
	rs, pool := testRecords(t, 40)
	var batches []*Batch
	b := NewBatcher(300_000, func(p *Batch) error { batches = append(batches, p); return nil })
	for _, r := range rs {
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(batches) < 2 {
		t.Fatalf("%d batches", len(batches))
	}
	var got []*records.Record
	for i, batch := range batches {
		want := bytes.Clone(batch.Bytes())
		data, err := c.Marshal(batch)
		if err != nil {
			t.Fatal(err)
		}
		msg := data.Materialize()
		data.Free()
		if !bytes.Equal(msg, pushMessage(t, want)) {
			t.Fatalf("batch %d: daisy's encoding differs from protobuf-go's", i)
		}
		if _, err := c.Marshal(batch); !errors.Is(err, ErrBatchSent) {
			t.Errorf("a batch marshalled twice: %v", err)
		}
		for _, n := range []int{1, 7, 16384, len(msg)} {
			in := unmarshal(t, c, msg, n, pool)
			if in.Message != nil || in.Err != nil {
				t.Fatalf("frames of %d: message %v, err %v", n, in.Message, in.Err)
			}
			if n == 16384 {
				got = append(got, in.Records...)
			}
		}
	}
	sameRecords(t, got, rs)
}

// Other messages, and batches encoded otherwise than daisy encodes them,
// are decoded by protobuf-go.
func TestCodecOtherEncodings(t *testing.T) {
	c := theCodec(t)
	rs, pool := testRecords(t, 6)
	data := batchOf(rs)

	// An unknown field after the batch: legal, not daisy's.
	odd := protowire.AppendTag(pushMessage(t, data), 9, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 1)
	in := unmarshal(t, c, odd, 1000, pool)
	if in.Message != nil || in.Err != nil {
		t.Fatalf("batch with an unknown field: message %v, err %v", in.Message, in.Err)
	}
	sameRecords(t, in.Records, rs)

	// An unknown field inside the RecordBatch, before the records.
	inner := protowire.AppendTag(nil, 5, protowire.VarintType)
	inner = protowire.AppendVarint(inner, 3)
	inner = protowire.AppendTag(inner, 1, protowire.BytesType)
	inner = protowire.AppendBytes(inner, data)
	msg := protowire.AppendTag(nil, 2, protowire.BytesType)
	msg = protowire.AppendBytes(msg, inner)
	in = unmarshal(t, c, msg, 333, pool)
	if in.Message != nil || in.Err != nil {
		t.Fatalf("batch with an inner unknown field: message %v, err %v", in.Message, in.Err)
	}
	sameRecords(t, in.Records, rs)

	// An empty batch.
	in = unmarshal(t, c, pushMessage(t, nil), 5, pool)
	if in.Message != nil || in.Err != nil || len(in.Records) != 0 {
		t.Fatalf("empty batch: message %v, err %v, %d records", in.Message, in.Err, len(in.Records))
	}

	for _, m := range []*pb.PushMessage{
		{Message: &pb.PushMessage_Open{Open: &pb.PushOpen{Job: 7, Buffer: "BMA124.B2", Source: "D2"}}},
		{Message: &pb.PushMessage_Fail{Fail: &pb.PushFail{Reason: "disk on fire"}}},
		{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		in := &PushIn{Pool: pool}
		if err := c.Unmarshal(chunks(b, 3), in); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(in.Message, m) || len(in.Records) != 0 {
			t.Errorf("%v came back as %v with %d records", m, in.Message, len(in.Records))
		}
	}

	// Bytes that are not protobuf are gRPC's codec's error.
	if err := c.Unmarshal(chunks([]byte{0x12, 0x7f, 0x01}, 2), &PushIn{Pool: pool}); err == nil {
		t.Error("a cut message decoded")
	}
}

// A flipped byte, a batch cut inside a record, or a length that runs past
// the batch stop the decoding at that record, named; the records before
// it are kept.
func TestCodecRefusesDamage(t *testing.T) {
	c := theCodec(t)
	rs, pool := testRecords(t, 5)
	data := batchOf(rs)
	third := rs[0].Len() + rs[1].Len()

	flipped := bytes.Clone(data)
	flipped[third+records.HeaderSize+3] ^= 0x10
	cut := data[:len(data)-7]
	long := bytes.Clone(data)
	long[third+4] = 0xff // payload length of record 2 beyond the batch (and MaxPayload)
	short := data[:third+20]
	for _, tc := range []struct {
		name, want string
		data       []byte
		kept       int
	}{
		{"flipped payload byte", "record 2 of the batch", flipped, 2},
		{"cut record", "record 4 of the batch", cut, 4},
		{"length beyond the batch", "record 2 of the batch", long, 2},
		{"cut header", "record 2 of the batch", short, 2},
	} {
		for _, n := range []int{11, 1 << 20} {
			in := unmarshal(t, c, pushMessage(t, tc.data), n, pool)
			if !errors.Is(in.Err, records.ErrCorrupt) || !strings.Contains(in.Err.Error(), tc.want) || len(in.Records) != tc.kept {
				t.Errorf("%s (frames of %d): err %v with %d records, want %q after %d", tc.name, n, in.Err, len(in.Records), tc.want, tc.kept)
			}
		}
	}
}

// Decoding a 1 MiB batch that arrives in 16 KiB frames: protobuf-go and
// Unbatch (the way before daisy's codec) against the codec's PushIn.
func BenchmarkPushDecode(b *testing.B) {
	rs, pool := testRecords(b, 400)
	var data []byte
	for _, r := range rs {
		if len(data) > BatchBytes {
			break
		}
		data = append(data, r.Bytes()...)
	}
	msg := pushMessage(b, data)
	frames := chunks(msg, 16384)
	base := encoding.GetCodecV2(gproto.Name).(codec).base
	b.Run("protobuf-go+Unbatch", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			m := new(pb.PushMessage)
			if err := base.Unmarshal(frames, m); err != nil {
				b.Fatal(err)
			}
			if err := Unbatch(pool, m.GetBatch().GetRecords(), func(r *records.Record) error { r.Release(); return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PushIn", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		c := theCodec(b)
		in := &PushIn{Pool: pool}
		for b.Loop() {
			if err := c.Unmarshal(frames, in); err != nil || in.Err != nil {
				b.Fatal(err, in.Err)
			}
			for _, r := range in.Records {
				r.Release()
			}
		}
	})
}
