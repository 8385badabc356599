// Package jobs is daisy's control program for one job: it builds the
// topology of a configuration in process (buffers, chains, media agents,
// agents), runs it, and records the outcome in the catalog.
//
// A backup wires every buffer of the backup group and of each mirror level,
// forwards records along the chains by reference, starts one media agent
// per device and one agent per selected source, and commits each copy as
// good only after its media agent synced the volume, with the extents
// the agent reported as it wrote (extentLog). A restore reads one copy of
// an object extent by extent through the media agents' reader
// (mediaagent.ReadCopies, SeekReader; the volumes of the catalog mounted
// through the device registry, media.go), checks every record and the
// object's hash, and falls back to another copy, at the same position in the
// stream, when a volume is missing or damaged, range by range and both
// ways; a range no copy has costs only the entries it held, which the
// restore lists (restore_damage.go). A copy job (copy.go, and
// the job types in copytypes.go) wires restore media agents to copy stages
// the same way and reads each volume once for all the objects it copies.
// Verify reads copies back and checks them (verify.go); Rebuild makes the
// catalog anew from the volumes alone (rebuild.go). The command line
// reaches the catalog and the volumes only through this package
// (catalogapi.go).
//
// An object is complete only with its file list recorded and a good copy;
// an incremental is based only on a chain whose every member has one
// (incremental.go). A job whose context is cancelled (SIGINT, SIGTERM)
// still commits what was written whole and records its end, interrupted,
// with a context that is not cancelled; what it left unfinished is failed
// (catalog.FailUnfinished), never left writing.
package jobs
