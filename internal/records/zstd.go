package records

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compressed data records (TypeDataZstd). An object whose Begin record says
// Compression "zstd" has its data cut into chunks of at most MaxPayload
// bytes as usual; each chunk is compressed on its own, so that any record
// can be read without the ones before it (restoring one file seeks to its
// block). A record whose chunk does not shrink stays a plain Data record.
// Offsets, the End record's length and the hash are those of the
// uncompressed stream, so that catalog offsets, extents and checks mean the
// same whether an object is compressed or not.
//
// Payload of a TypeDataZstd record:
//
//	offset size field
//	     0    4 length of the uncompressed chunk (uint32 LE, 1..MaxPayload)
//	     4    … one zstd frame (RFC 8878) of the chunk, without checksum
//	            (the record CRC covers it)

// CompressionZstd is the BeginInfo.Compression of zstd-compressed objects.
const CompressionZstd = "zstd"

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	decOnce sync.Once
	dec     *zstd.Decoder
)

// encoder returns the shared encoder; EncodeAll may be called concurrently.
func encoder() *zstd.Encoder {
	encOnce.Do(func() {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(64<<10))
		if err != nil {
			panic(fmt.Sprintf("records: zstd encoder: %v", err)) // only for invalid options
		}
	})
	return enc
}

// decoder returns the shared decoder; DecodeAll may be called
// concurrently. It refuses frames that would decode to more than a record.
func decoder() *zstd.Decoder {
	decOnce.Do(func() {
		var err error
		dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxPayload))
		if err != nil {
			panic(fmt.Sprintf("records: zstd decoder: %v", err)) // only for invalid options
		}
	})
	return dec
}

// DataLen returns how many bytes of the object stream a record of header h
// and payload p carries: the payload length of a Data record, the
// uncompressed length of a compressed one, 0 for other records.
func DataLen(h Header, p []byte) (uint32, error) {
	switch h.Type {
	case TypeData:
		return uint32(len(p)), nil
	case TypeDataZstd:
		if len(p) < 4 {
			return 0, fmt.Errorf("%w: compressed data record of %d bytes", ErrCorrupt, len(p))
		}
		n := binary.LittleEndian.Uint32(p)
		if n == 0 || n > MaxPayload {
			return 0, fmt.Errorf("%w: compressed data record says %d bytes (1..%d)", ErrCorrupt, n, MaxPayload)
		}
		return n, nil
	}
	return 0, nil
}

// Data returns the object bytes a data record carries: p itself for a
// Data record, p decompressed into dst (reused when large enough) for a
// compressed one.
func Data(h Header, p, dst []byte) ([]byte, error) {
	if h.Type != TypeDataZstd {
		return p, nil
	}
	n, err := DataLen(h, p)
	if err != nil {
		return nil, err
	}
	out, err := decoder().DecodeAll(p[4:], dst[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: compressed data record at offset %d: %v", ErrCorrupt, h.Offset, err)
	}
	if len(out) != int(n) {
		return nil, fmt.Errorf("%w: compressed data record at offset %d: %d bytes, it says %d", ErrCorrupt, h.Offset, len(out), n)
	}
	return out, nil
}
