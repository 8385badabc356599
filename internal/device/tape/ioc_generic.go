//go:build !(mips || mipsle || mips64 || mips64le || ppc64 || ppc64le || sparc64)

package tape

// The direction bits of include/uapi/asm-generic/ioctl.h (x86, arm, arm64,
// riscv, s390, loongarch).
const (
	iocWrite     = 1
	iocRead      = 2
	iocDirShift  = 30
	iocSizeShift = 16
)
