// Package volume reads and writes daisy volumes: the self-describing format
// every device holds, documented byte by byte in docs/FORMAT.md.
//
// A volume is a sequence of fixed-size blocks. Block 0 is the label (volume
// ID, label, pool, block size, format version); every later block has a
// 64-byte header (magic, format version, volume ID, block number, payload
// length, record count, CRC32C) followed by whole records, of one or more
// objects, laid end to end, and zero padding. Records are never split
// across blocks or volumes. Writes come in sessions: each starts with a
// SessionBegin record and ends with a SessionEnd record, or with a Trailer
// record naming the continuation volume when the volume filled up.
//
// Format and Writer (writer.go) label a medium and append a session to it.
// Reader returns the records of a volume in order; because blocks have a
// fixed size it skips a damaged block and resynchronises at the next one,
// reporting each damaged block, and a hole of a sparse volume file as one
// run, unread. A damaged label block is recovered from the data blocks'
// headers (Reader.LabelDamage). With a context (SetContext, ScanContext)
// a read stops before the next block once it is cancelled. Scan reads a whole volume once and reports
// what is on it without the catalog: its sessions, the objects and the
// extents (runs of blocks) they occupy, the damaged blocks and exactly which
// byte ranges of which objects they cost, and where a truncated tail (an
// interrupted write) starts, which is where the next session must be
// appended after cutting it.
package volume
