// Package device defines what daisy asks of a drive and its mounted medium:
// fixed-size blocks written in sequence, read back in sequence, and
// optionally positioned. Implementations live in subpackages (vtape, and
// later tape and object storage); capabilities beyond the core, such as
// seeking, are optional interfaces.
package device

import (
	"errors"
)

// ErrEndOfMedium is returned by WriteBlock when the medium has reached its
// early-warning point: the block was NOT written. A writer may then write a
// few more blocks (a trailer) into the reserve before the physical end.
var ErrEndOfMedium = errors.New("device: end of medium")

// ErrFull is returned when even the reserve after the early warning is
// used up: nothing more can be written.
var ErrFull = errors.New("device: medium full")

// ErrInjected marks a failure injected for tests (the fail_after option).
var ErrInjected = errors.New("device: injected failure")

// Stats counts the bytes a medium moved since it was opened.
type Stats struct {
	BytesRead, BytesWritten   int64
	BlocksRead, BlocksWritten int64
}

// Medium is a mounted volume: a sequence of blocks of one size. Blocks are
// numbered from 0 (the label). Methods are not safe for concurrent use; one
// media agent owns a medium at a time.
type Medium interface {
	// Name identifies the medium in messages (e.g. the volume file path).
	Name() string
	// BlockSize is the size of every block on the medium.
	BlockSize() int
	// WriteBlock appends b (exactly BlockSize bytes) at the current
	// position, which must be the end of the data. At the early warning it
	// returns ErrEndOfMedium without writing; after that, writes succeed
	// until the reserve is used up (ErrFull).
	WriteBlock(b []byte) error
	// ReadBlock reads the block at the current position into b (BlockSize
	// bytes) and advances. It returns io.EOF at the end of the data and
	// io.ErrUnexpectedEOF for a partial last block.
	ReadBlock(b []byte) error
	// Position returns the number of the block the next read or write uses.
	Position() int64
	// Sync makes written blocks durable.
	Sync() error
	// Stats returns the bytes moved so far.
	Stats() Stats
	// Close releases the medium (it does not sync).
	Close() error
}

// Locator is implemented by media that can position at any block quickly
// (virtual tape files, disks, and tape drives through the SCSI LOCATE
// command).
type Locator interface {
	// Locate positions at block n, 0 ≤ n ≤ the number of blocks written.
	Locate(n int64) error
}

// Truncater is implemented by media whose data can be cut after a block,
// used to drop a damaged tail before appending.
type Truncater interface {
	// Truncate cuts the data so that block n is the next one written.
	Truncate(n int64) error
}
