package tape

import "unsafe"

// The magnetic tape interface of Linux, from the kernel header
// include/uapi/linux/mtio.h, which golang.org/x/sys/unix does not carry.
// Only what daisy uses is defined here; names follow the header.

// Mtop is struct mtop of include/uapi/linux/mtio.h: the argument of
// MTIOCTOP.
type Mtop struct {
	Op    int16 // mt_op: one of the MT* operations below
	_     [2]byte
	Count int32 // mt_count: how many of them
}

// Mtget is struct mtget of include/uapi/linux/mtio.h: what MTIOCGET
// returns. The header's fields are long (the word size, Go's int on
// Linux) and __kernel_daddr_t (int).
type Mtget struct {
	Type   int   // mt_type: MTISSCSI2 for a SCSI-2 drive
	Resid  int   // mt_resid: residual count of the last operation
	Dsreg  int   // mt_dsreg: block size (MT_ST_BLKSIZE_MASK) and density (MT_ST_DENSITY_MASK)
	Gstat  int   // mt_gstat: the GMT_* status bits
	Erreg  int   // mt_erreg: recovered errors in the low word
	Fileno int32 // mt_fileno: file number (filemarks passed since the beginning), -1 unknown
	Blkno  int32 // mt_blkno: block number in the file, -1 unknown
}

// Mtpos is struct mtpos of include/uapi/linux/mtio.h: what MTIOCPOS
// returns, the logical block number (filemarks count as blocks).
type Mtpos struct {
	Blkno int // mt_blkno
}

// Operations of struct mtop (include/uapi/linux/mtio.h).
const (
	MTFSF    = 1  // forward space over FileMark, position at first record of next file
	MTBSF    = 2  // backward space FileMark (position before FM)
	MTWEOF   = 5  // write an end-of-file record (mark); a count of 0 flushes the drive's buffer
	MTREW    = 6  // rewind
	MTOFFL   = 7  // rewind and put the drive offline (eject)
	MTNOP    = 8  // no op, set status only (flushes the driver's buffer)
	MTEOM    = 12 // goto end of recorded media (for appending files)
	MTERASE  = 13 // erase tape -- be careful!
	MTSETBLK = 20 // set block length (SCSI); 0 is variable block mode
	MTSEEK   = 22 // seek to block (Tandberg, etc.)
	MTTELL   = 23 // tell block (AIX compat.); the st driver answers it through MTIOCPOS
)

// mt_type of a SCSI-2 drive (include/uapi/linux/mtio.h).
const MTISSCSI2 = 0x72

// Bits of mt_gstat (include/uapi/linux/mtio.h, the GMT_* macros).
const (
	GMT_EOF     = 0x80000000 // just passed a filemark
	GMT_BOT     = 0x40000000 // at the beginning of the tape
	GMT_EOT     = 0x20000000 // at or past the early warning of the end of the tape
	GMT_EOD     = 0x08000000 // at the end of the recorded data
	GMT_WR_PROT = 0x04000000 // the cartridge is write protected
	GMT_ONLINE  = 0x01000000 // a cartridge is loaded and ready
	GMT_DR_OPEN = 0x00040000 // no cartridge in the drive
)

// Fields of mt_dsreg (include/uapi/linux/mtio.h).
const (
	MT_ST_BLKSIZE_SHIFT = 0
	MT_ST_BLKSIZE_MASK  = 0xffffff
	MT_ST_DENSITY_SHIFT = 24
	MT_ST_DENSITY_MASK  = 0xff000000
)

// The ioctl request numbers: MTIOCTOP is _IOW('m', 1, struct mtop),
// MTIOCGET _IOR('m', 2, struct mtget), MTIOCPOS _IOR('m', 3, struct mtpos)
// (include/uapi/linux/mtio.h), encoded as include/uapi/asm-generic/ioctl.h
// does (see ioc_*.go for the architectures that differ).
var (
	MTIOCTOP = ioc(iocWrite, 'm', 1, unsafe.Sizeof(Mtop{}))
	MTIOCGET = ioc(iocRead, 'm', 2, unsafe.Sizeof(Mtget{}))
	MTIOCPOS = ioc(iocRead, 'm', 3, unsafe.Sizeof(Mtpos{}))
)

// ioc is the _IOC macro of include/uapi/asm-generic/ioctl.h.
func ioc(dir, typ, nr, size uintptr) uintptr {
	return dir<<iocDirShift | size<<iocSizeShift | typ<<8 | nr
}
