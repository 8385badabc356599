// Package tape is daisy's Linux SCSI tape device (type: tape): a drive of
// the kernel's st driver (/dev/nst0, the non-rewinding device), with a
// changer driven through mtx or loaded by hand, as a device.Library.
//
// The driver (Medium) puts the drive in variable block mode (MTSETBLK 0)
// and writes each daisy block with one write(2), so a tape block is a
// volume block. A filemark (MTWEOF) ends each session. Mounting rewinds,
// spaces over the filemarks (MTFSF, MTIOCPOS) to learn where they are, and
// reads the label block after a rewind; Locate turns a volume block into
// the tape's logical block (filemarks count) for MTSEEK. A read of 0 bytes
// is a filemark and is passed over; a block longer than the block size
// (the driver's ENOMEM) reads as zeros, which the volume reader reports as
// damage. At the early warning the driver finishes the write that passed
// it and fails the next with ENOSPC: that is device.ErrEndOfMedium (the
// block was not written); the trailer is then written into the reserve,
// where the driver answers every other write with ENOSPC (tried once
// more), until the physical end (device.ErrFull). Sync flushes the drive's
// buffer (MTWEOF with a count of 0).
//
// The driver reaches the kernel through Drive, a small interface of the
// st operations it uses (read, write, MTIOCTOP, MTIOCPOS, MTIOCGET); the
// real one is a file descriptor (OpenDevice, golang.org/x/sys/unix, with
// the request numbers and structs of include/uapi/linux/mtio.h defined in
// mtio.go). Package sttest is a fake of the st driver behind the same
// interface, with the rules of the kernel's Documentation/scsi/st.rst, and
// a fake mtx script.
//
// The Library names cartridges by barcode with a changer (Changer: "mtx
// -f DEV status" parsed, "load SLOT DRIVE", "unload SLOT DRIVE"); Create
// takes the cartridge whose barcode is the new volume's label, else the
// first blank one; a pool labels the volume with the barcode (Caps.Named).
// With a changer several media may be open at once: an operation of one
// whose cartridge is not in the drive unloads the other's (a filemark
// first after a write) and loads its own, so one drive spans as a media
// agent does (the next volume created, the trailer written on the last,
// the records carried over). The drives of one changer share its robot
// (one mtx command at a time, the moves planned on the inventory read
// under the same lock), never take the same blank cartridge, and a
// cartridge left in another drive with no medium open is ejected there
// (its device from Options.Peers) and moved. Without a changer the
// cartridge in the drive answers to a fixed name (the device's base
// name), and a second mount while a medium is open fails with
// device.ErrBusy, for every library of the process on that device path.
package tape
