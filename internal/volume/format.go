package volume

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"daisy/internal/records"
)

// Block header, wire format version 1 (do not change; add a new version).
// Every block of a volume is BlockSize bytes: this 64-byte header, then
// `payload length` bytes of whole records laid end to end, then zeros.
// All integers are little endian.
//
//	offset size field
//	     0    4 magic "DSY1" (0x44 0x53 0x59 0x31)
//	     4    2 format version (1)
//	     6    2 flags: bit 0 = label block (block 0)
//	     8   16 volume ID (UUID)
//	    24    8 block number (0 = label)
//	    32    4 payload length (≤ BlockSize-64)
//	    36    4 number of records in the payload
//	    40    4 block size of the volume
//	    44   16 reserved, zero
//	    60    4 CRC32C of bytes 0..59 followed by the payload
//	    64    … payload
const (
	BlockHeaderSize = 64
	FormatVersion   = 1

	// MinBlockSize and MaxBlockSize bound the block size; it must be a
	// multiple of MinBlockSize so that whole records fill blocks.
	MinBlockSize = 64 << 10
	MaxBlockSize = 16 << 20
	// DefaultBlockSize is 256 KiB, a common LTO block size.
	DefaultBlockSize = 256 << 10

	flagLabel = 1
)

var blockMagic = [4]byte{'D', 'S', 'Y', '1'}

// Errors a reader classifies damage with.
var (
	// ErrBadBlock marks a block whose magic, fields or CRC do not check.
	ErrBadBlock = errors.New("volume: damaged block")
	// ErrNotDaisy marks a medium whose first block is not a daisy label.
	ErrNotDaisy = errors.New("volume: not a daisy volume")
)

// BlockHeader is a decoded block header.
type BlockHeader struct {
	Version   uint16
	Flags     uint16
	Volume    records.ID
	Number    uint64
	Length    uint32
	Records   uint32
	BlockSize uint32
	CRC       uint32
}

// IsLabel reports whether the block is the volume label.
func (h BlockHeader) IsLabel() bool { return h.Flags&flagLabel != 0 }

// PutBlockHeader encodes h into b[:BlockHeaderSize] and computes the CRC
// over the header and b's payload (b[BlockHeaderSize:BlockHeaderSize+h.Length]).
func PutBlockHeader(b []byte, h BlockHeader) {
	copy(b[0:4], blockMagic[:])
	binary.LittleEndian.PutUint16(b[4:], FormatVersion)
	binary.LittleEndian.PutUint16(b[6:], h.Flags)
	copy(b[8:24], h.Volume[:])
	binary.LittleEndian.PutUint64(b[24:], h.Number)
	binary.LittleEndian.PutUint32(b[32:], h.Length)
	binary.LittleEndian.PutUint32(b[36:], h.Records)
	binary.LittleEndian.PutUint32(b[40:], h.BlockSize)
	clear(b[44:60])
	crc := records.UpdateChecksum(records.Checksum(b[:60]), b[BlockHeaderSize:BlockHeaderSize+int(h.Length)])
	binary.LittleEndian.PutUint32(b[60:], crc)
}

// ParseBlockHeader decodes the header at the start of b and checks its
// fields, but not the CRC (which needs the payload; see CheckBlock).
func ParseBlockHeader(b []byte) (BlockHeader, error) {
	var h BlockHeader
	if len(b) < BlockHeaderSize {
		return h, fmt.Errorf("%w: %d bytes, a block header needs %d", ErrBadBlock, len(b), BlockHeaderSize)
	}
	if [4]byte(b[0:4]) != blockMagic {
		return h, fmt.Errorf("%w: bad magic %q", ErrBadBlock, b[0:4])
	}
	h.Version = binary.LittleEndian.Uint16(b[4:])
	h.Flags = binary.LittleEndian.Uint16(b[6:])
	copy(h.Volume[:], b[8:24])
	h.Number = binary.LittleEndian.Uint64(b[24:])
	h.Length = binary.LittleEndian.Uint32(b[32:])
	h.Records = binary.LittleEndian.Uint32(b[36:])
	h.BlockSize = binary.LittleEndian.Uint32(b[40:])
	h.CRC = binary.LittleEndian.Uint32(b[60:])
	if h.Version != FormatVersion {
		return h, fmt.Errorf("%w: format version %d, this daisy reads %d", ErrBadBlock, h.Version, FormatVersion)
	}
	if h.BlockSize < MinBlockSize || h.BlockSize > MaxBlockSize || h.BlockSize%MinBlockSize != 0 {
		return h, fmt.Errorf("%w: block size %d out of range", ErrBadBlock, h.BlockSize)
	}
	if h.Length > h.BlockSize-BlockHeaderSize {
		return h, fmt.Errorf("%w: payload length %d exceeds block size %d", ErrBadBlock, h.Length, h.BlockSize)
	}
	return h, nil
}

// CheckBlock decodes and checks a whole block: header fields and CRC.
func CheckBlock(b []byte) (BlockHeader, error) {
	h, err := ParseBlockHeader(b)
	if err != nil {
		return h, err
	}
	end := BlockHeaderSize + int(h.Length)
	if end > len(b) {
		return h, fmt.Errorf("%w: payload of %d bytes cut at %d", ErrBadBlock, h.Length, len(b)-BlockHeaderSize)
	}
	crc := records.UpdateChecksum(records.Checksum(b[:60]), b[BlockHeaderSize:end])
	if crc != h.CRC {
		return h, fmt.Errorf("%w: CRC32C %08x, header says %08x (and says it is block %d)", ErrBadBlock, crc, h.CRC, h.Number)
	}
	return h, nil
}

// Label is the payload of block 0 (UTF-8 JSON).
type Label struct {
	Format    int        `json:"format"` // FormatVersion that wrote the label
	VolumeID  records.ID `json:"volume_id"`
	Label     string     `json:"label"` // human name / barcode, unique in the catalog
	Pool      string     `json:"pool"`
	BlockSize int        `json:"block_size"`
	Created   time.Time  `json:"created"`
}

// SessionInfo is the payload of a SessionBegin record: one run of writes
// appended to the volume (a job's media agent writing to it).
type SessionInfo struct {
	Session    records.ID `json:"session"`
	Job        int64      `json:"job,omitempty"`
	MediaAgent string     `json:"media_agent,omitempty"`
	Host       string     `json:"host,omitempty"`
	Time       time.Time  `json:"time"`
	// Previous names the volume this session continues from when an
	// object spanned onto this volume.
	Previous string `json:"previous,omitempty"`
}

// TrailerInfo is the payload of a Trailer record, the last record of a
// volume that filled up while objects were still being written.
type TrailerInfo struct {
	Session      records.ID `json:"session"`
	Next         string     `json:"next"` // label of the continuation volume
	NextVolumeID records.ID `json:"next_volume_id"`
	Time         time.Time  `json:"time"`
}

// SessionEndInfo is the payload of a SessionEnd record.
type SessionEndInfo struct {
	Session records.ID `json:"session"`
	Time    time.Time  `json:"time"`
	Objects int        `json:"objects"`
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("volume: marshal %T: %v", v, err)) // only plain structs are marshalled
	}
	return b
}

// ValidBlockSize reports whether n is a usable block size.
func ValidBlockSize(n int) bool {
	return n >= MinBlockSize && n <= MaxBlockSize && n%MinBlockSize == 0
}
