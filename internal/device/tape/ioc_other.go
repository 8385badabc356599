//go:build mips || mipsle || mips64 || mips64le || ppc64 || ppc64le || sparc64

package tape

// The direction bits of arch/{mips,powerpc,sparc}/include/uapi/asm/ioctl.h:
// a 13-bit size and 3 direction bits.
const (
	iocWrite     = 4
	iocRead      = 2
	iocDirShift  = 29
	iocSizeShift = 16
)
