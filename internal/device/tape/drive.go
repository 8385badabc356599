package tape

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drive is the kernel's side of an open tape device: the few operations of
// the Linux st driver daisy uses. Errors are the driver's errno values
// (syscall.Errno), so that the medium can tell the early warning (ENOSPC)
// from a block longer than the buffer (ENOMEM) and a failed space or seek
// (EIO). The real one is a file descriptor (OpenDevice); tests use the fake
// of package sttest, which implements the st driver's rules.
type Drive interface {
	// Read reads the next block (read(2)): its length, 0 at a filemark or
	// at the end of the data, ENOMEM for a block longer than b.
	Read(b []byte) (int, error)
	// Write writes b as one block (write(2) in variable block mode).
	Write(b []byte) (int, error)
	// Op runs a tape operation (MTIOCTOP).
	Op(op int16, count int32) error
	// Tell returns the logical block number (MTIOCPOS); filemarks count.
	Tell() (int64, error)
	// Status returns the drive's status (MTIOCGET).
	Status() (Mtget, error)
	// Close closes the device.
	Close() error
}

// Opener opens the tape device at path, for writing too when write is set.
type Opener func(path string, write bool) (Drive, error)

// OpenDevice opens a Linux st device (a non-rewinding one, /dev/nst*).
// It waits for the drive to be ready as the driver does (no O_NONBLOCK).
func OpenDevice(path string, write bool) (Drive, error) {
	flags := unix.O_RDONLY
	if write {
		flags = unix.O_RDWR
	}
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &fdDrive{fd: fd}, nil
}

// fdDrive is an open st device.
type fdDrive struct{ fd int }

func (d *fdDrive) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(d.fd, b)
		if err != syscall.EINTR {
			return max(n, 0), errnoOf(err)
		}
	}
}

func (d *fdDrive) Write(b []byte) (int, error) {
	for {
		n, err := unix.Write(d.fd, b)
		if err != syscall.EINTR {
			return max(n, 0), errnoOf(err)
		}
	}
}

func (d *fdDrive) ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), req, uintptr(arg))
		if e != syscall.EINTR {
			if e != 0 {
				return e
			}
			return nil
		}
	}
}

func (d *fdDrive) Op(op int16, count int32) error {
	m := Mtop{Op: op, Count: count}
	return d.ioctl(MTIOCTOP, unsafe.Pointer(&m))
}

func (d *fdDrive) Tell() (int64, error) {
	var p Mtpos
	if err := d.ioctl(MTIOCPOS, unsafe.Pointer(&p)); err != nil {
		return 0, err
	}
	return int64(p.Blkno), nil
}

func (d *fdDrive) Status() (Mtget, error) {
	var g Mtget
	err := d.ioctl(MTIOCGET, unsafe.Pointer(&g))
	return g, err
}

func (d *fdDrive) Close() error { return unix.Close(d.fd) }

// errnoOf keeps an error as the syscall.Errno it is.
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// opName names an MTIOCTOP operation in messages.
func opName(op int16) string {
	switch op {
	case MTFSF:
		return "MTFSF"
	case MTBSF:
		return "MTBSF"
	case MTWEOF:
		return "MTWEOF"
	case MTREW:
		return "MTREW"
	case MTOFFL:
		return "MTOFFL"
	case MTNOP:
		return "MTNOP"
	case MTEOM:
		return "MTEOM"
	case MTERASE:
		return "MTERASE"
	case MTSETBLK:
		return "MTSETBLK"
	case MTSEEK:
		return "MTSEEK"
	case MTTELL:
		return "MTTELL"
	}
	return fmt.Sprintf("op %d", op)
}
