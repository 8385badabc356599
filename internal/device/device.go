// Package device defines what daisy asks of a drive and its mounted medium:
// fixed-size blocks written in sequence, read back in sequence, and
// optionally positioned (Medium, with the optional Locator and Truncater),
// and of the place the volumes of a pool live (Library: create, open,
// erase and list volumes by reference, with the capabilities of its media).
// Implementations live in subpackages, one per device type; the rest of
// daisy reaches media only through these interfaces and the registry
// (internal/device/devices). Every implementation runs the conformance
// suite internal/device/devicetest.
package device

import (
	"context"
	"encoding/binary"
	"errors"
)

// ErrEndOfMedium is returned by WriteBlock when the medium has reached its
// early-warning point: the block was NOT written. A writer may then write a
// few more blocks (a trailer) into the reserve before the physical end.
var ErrEndOfMedium = errors.New("device: end of medium")

// ErrFull is returned when even the reserve after the early warning is
// used up: nothing more can be written.
var ErrFull = errors.New("device: medium full")

// ErrInjected marks a failure injected by a test (internal/device/fault).
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

// Caps says what a device library's media can do beyond the core of
// Medium. Code that needs a capability asks for it here (and for the
// optional interface on the medium), never for a device type.
type Caps struct {
	// Seekable: Locate is cheap (a file, an object store); a tape drive
	// can locate too, but in seconds, and is not Seekable.
	Seekable bool
	// Append: a volume written in an earlier session can be mounted again
	// and appended to.
	Append bool
	// Truncate: the media implement Truncater (a failed session is cut).
	Truncate bool
	// EarlyWarning: WriteBlock gives ErrEndOfMedium before the medium is
	// full, with a reserve for a trailer after it.
	EarlyWarning bool
	// Named: the media have names of their own (a changer's barcodes),
	// which are their references; a pool labels a new volume with the
	// reference Create returns, and calls Create with an empty label to
	// take the next blank medium.
	Named bool
}

// Mode says what a volume is mounted for.
type Mode int

const (
	// ReadOnly mounts a volume for reading.
	ReadOnly Mode = iota
	// Append mounts a volume for reading and for writing after its last
	// block.
	Append
)

// VolumeRef names one volume in its library: what the catalog records as
// the volume's location (a file path for vtape, a key prefix for s3, a
// barcode for tape). Only the library that made it interprets it.
type VolumeRef = string

// Found is a volume found by Library.List: its reference and its size in
// bytes when the library knows it without mounting (-1 otherwise).
type Found struct {
	Ref  VolumeRef
	Size int64
}

// Library is where the volumes of a pool live and how they are mounted:
// a directory of volume files, a tape drive with its changer, a bucket
// prefix. The media agents (and the pools that hand them volumes) reach
// media only through a Library; each device type implements it in its own
// package under internal/device, and nothing outside internal/device names
// one of them.
//
// Methods may be called from several goroutines; each Medium returned is
// used by one goroutine at a time. A library whose drive holds one medium
// at a time (a tape drive) fails Open and Create with ErrBusy while a
// medium it returned is still open.
type Library interface {
	// Name identifies the library in messages ("vtape /srv/pool1",
	// "tape /dev/nst0", "s3 https://host/bucket/prefix").
	Name() string
	// Caps says what its media can do.
	Caps() Caps
	// Create makes a new, empty volume named label (unique in the
	// library: a label it holds fails wrapping ErrExists), mounts it for
	// writing at block 0, and returns it with its reference. blockSize is
	// the size of every block on it.
	Create(ctx context.Context, label string, blockSize int) (Medium, VolumeRef, error)
	// Open mounts the volume at ref, positioned at block 0. blockSize 0
	// takes the block size from the volume's label; another block size
	// than the volume's fails. A ReadOnly medium refuses writes; an
	// Append one is written after its last block (positioned there with
	// Truncater or Locator, as volume.NewWriter does).
	Open(ctx context.Context, ref VolumeRef, mode Mode, blockSize int) (Medium, error)
	// Erase empties the volume at ref (a recycled volume about to be
	// labelled again) and mounts it for writing at block 0.
	Erase(ctx context.Context, ref VolumeRef, blockSize int) (Medium, error)
	// List returns the volumes in the library, for a catalog rebuild.
	List(ctx context.Context) ([]Found, error)
	// Close releases the library (a drive's lock, a client's connections).
	Close() error
}

// ErrBusy is returned by a library whose drive already holds a medium.
var ErrBusy = errors.New("device: drive busy")

// ErrNoVolume is returned (wrapped) by Open and Erase for a reference the
// library does not hold.
var ErrNoVolume = errors.New("device: no such volume")

// Space is implemented by libraries whose volumes take their room from a
// filesystem shared with other data (a directory of volume files next to
// the catalog). A pool keeps some of it free: its media give the early
// warning before the filesystem fills, and it mounts no volume while too
// little is free. Libraries with room of their own (a cartridge, a
// bucket) do not implement it.
type Space interface {
	// Free returns the bytes free for new data where the library keeps
	// its volumes.
	Free() (int64, error)
	// KeepFree sets the bytes that the media the library mounts from now
	// on leave free there: a medium gives its early warning when a block
	// would leave less than that plus its reserve.
	KeepFree(n int64)
}

// ErrExists is returned (wrapped) by Create for a label the library
// already holds a volume of.
var ErrExists = errors.New("device: volume exists")

// Reclaimer is implemented by libraries that can give back the room a
// volume's data takes without erasing its label (a volume file cut after
// its label block), for the recyclable volumes of `prune --reclaim`.
type Reclaimer interface {
	// VolumeSize returns the bytes the volume at ref takes now; it wraps
	// ErrNoVolume when there is none.
	VolumeSize(ctx context.Context, ref VolumeRef) (int64, error)
	// Cut gives back the room of the volume at ref after its first keep
	// blocks of blockSize bytes, durably, and returns its new size. The
	// first keep blocks stay as they are.
	Cut(ctx context.Context, ref VolumeRef, blockSize int, keep int64) (int64, error)
}

// Wrapper is implemented by a library that wraps another (a test's fault
// wrapper), so that As finds the optional interfaces of the one inside.
type Wrapper interface {
	Unwrap() Library
}

// As returns lib, or the first library it wraps (Wrapper), that
// implements T (Space, Reclaimer): optional capabilities of a library are
// asked for with As, never with a type assertion on lib itself.
func As[T any](lib Library) (T, bool) {
	for lib != nil {
		if t, ok := lib.(T); ok {
			return t, true
		}
		w, ok := lib.(Wrapper)
		if !ok {
			break
		}
		lib = w.Unwrap()
	}
	var zero T
	return zero, false
}

// The first block of a daisy volume starts with a block header (see
// internal/volume/format.go): magic "DSY1" at bytes 0..3 and the volume's
// block size, little endian, at bytes 40..43. Devices read the block size
// of a volume mounted without one there (LabelBlockSize), without
// depending on the volume package.
const (
	labelMagic     = "DSY1"
	labelSizeField = 40
	// LabelHeaderLen is the length of a block header: the least a block
	// (and what LabelBlockSize reads) can be.
	LabelHeaderLen = 64
)

// LabelBlockSize returns the block size that the block header at the
// start of b names, and false if b does not start with a daisy block
// header.
func LabelBlockSize(b []byte) (int64, bool) {
	if len(b) < LabelHeaderLen || string(b[:4]) != labelMagic {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint32(b[labelSizeField:])), true
}
