// Package records defines the record, the framed unit of an object stream.
//
// An object (one backup of one source at one time) travels as a sequence of
// records: a Begin record describing it, Data records carrying its pax tar
// stream in order, and an End record with its length, record count and
// SHA-256 content hash. Every record carries the object's 128-bit ID
// (UUIDv7, time-ordered), its offset in the object stream, a sequence number
// and a CRC32C computed once by the agent. The same bytes travel through
// buffers, over the network and onto volumes unchanged, so the CRC is checked
// end to end.
//
// Records are reference counted: chained buffers in one process share a
// record by reference, never by copy. A full-size record's memory comes from
// a pool and returns to it when the last holder releases it; a small one
// (compressed data, control records) is allocated at its size, and
// Footprint says what a record takes, which is what buffers count.
//
// The framing is hand-written because it is daisy's own wire and volume
// format; the byte layout is in record.go and docs/FORMAT.md.
package records
