package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"daisy/internal/device"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/, so that `go test`
// runs them; `go test -run TestFuzzSeeds ./internal/volume/ -args
// -update-fuzz-seeds` writes them again from fzSeeds. Fuzz with, e.g.:
//
//	go test -run XXX -fuzz FuzzScanPacked -fuzztime 30s ./internal/volume/
//	go test -run XXX -fuzz FuzzReader -fuzztime 30s -fuzzminimizetime 5x ./internal/volume/
//
// FuzzReader's inputs are whole volume files (hundreds of KiB): without a
// small -fuzzminimizetime the fuzzer spends its time minimising them.

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "write the fuzz seed corpora in testdata/fuzz")

// fzVolume returns the bytes of a small volume (blocks of 64 KiB): a
// session with two objects, and the object records a volume file holds.
func fzVolume(t testing.TB) []byte {
	m := &rtMem{bs: MinBlockSize}
	v := rtNewVol(t, m)
	sid := rtID(0x5e, 1)
	v.add(rtSessionBegin(sid, ""))
	a, b := rtNewObj(1, 300), rtNewObj(2, 200)
	v.add(a.begin())
	v.add(b.begin())
	v.add(a.dataRec(150))
	v.add(b.dataRec(200))
	v.add(a.dataRec(150))
	v.add(b.end())
	v.add(a.end())
	v.add(rtSessionEnd(sid, 2))
	v.flush()
	v.add(rtSessionBegin(rtID(0x5e, 2), ""))
	c := rtNewObj(3, 100)
	v.add(c.begin())
	v.add(c.dataRec(100))
	v.add(records.Encode(nil, records.TypeTrailer, rtID(0x5e, 2), 0, 0, rtJSON(TrailerInfo{Session: rtID(0x5e, 2), Next: "TST002", NextVolumeID: rtID(0xee, 2), Time: rtTime})))
	v.flush()
	var out []byte
	for _, blk := range m.blocks {
		out = append(out, blk...)
	}
	return out
}

// fzSeeds returns the seed inputs of each fuzz target.
func fzSeeds(t testing.TB) map[string]map[string][]byte {
	vol := fzVolume(t)
	flipped := bytes.Clone(vol)
	flipped[MinBlockSize+BlockHeaderSize+50] ^= 0x08 // in block 1's first record
	truncated := vol[:MinBlockSize*2+3000]

	// Block 1 cut after its payload (CheckBlock needs no more).
	h, _ := CheckBlock(vol[MinBlockSize:])
	block := bytes.Clone(vol[MinBlockSize : MinBlockSize+BlockHeaderSize+int(h.Length)])
	lh, _ := CheckBlock(vol)
	label := bytes.Clone(vol[:BlockHeaderSize+int(lh.Length)])
	badBlock := bytes.Clone(block)
	badBlock[BlockHeaderSize+records.HeaderSize+3] ^= 1

	rec := records.Encode(nil, records.TypeData, rtID(0x0b, 1), 65472, 2, []byte("some data of an object stream"))
	begin := block[BlockHeaderSize:]
	bh, _ := records.ParseHeader(begin)
	begin = begin[:bh.Size()]
	badRec := bytes.Clone(rec)
	badRec[30] ^= 2

	return map[string]map[string][]byte{
		"FuzzReader": {
			"valid":     vol,
			"truncated": truncated,
			"flipped":   flipped,
		},
		"FuzzScanPacked": {
			"valid":     fzPack(vol),
			"truncated": fzPack(vol)[:len(fzPack(vol))-20],
			"flipped":   fzPack(flipped),
		},
		"FuzzBlock": {
			"valid":     block,
			"label":     label,
			"flipped":   badBlock,
			"truncated": block[:len(block)-7],
		},
		"FuzzRecordDecode": {
			"data":      rec,
			"begin":     begin,
			"flipped":   badRec,
			"truncated": rec[:len(rec)-1],
			"header":    rec[:records.HeaderSize],
		},
	}
}

func fzPath(target, name string) string {
	return filepath.Join("testdata", "fuzz", target, "seed-"+name)
}

// TestFuzzSeeds checks that the committed seed corpora are the ones fzSeeds
// makes (and writes them with -update-fuzz-seeds), and that the valid
// seeds are what they claim.
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range fzSeeds(t) {
		for name, b := range seeds {
			path := fzPath(target, name)
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if *updateSeeds {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("seed %s: %v (write the seeds with -update-fuzz-seeds)", path, err)
			}
			line := strings.TrimSuffix(strings.TrimPrefix(string(got), "go test fuzz v1\n[]byte("), ")\n")
			s, err := strconv.Unquote(line)
			if err != nil || s != string(b) {
				t.Fatalf("seed %s is not what fzSeeds makes (%v): write the seeds with -update-fuzz-seeds", path, err)
			}
		}
	}
	// The valid volume scans clean; the others are damaged as intended.
	seeds := fzSeeds(t)["FuzzReader"]
	for name, want := range map[string]struct {
		damage, objects int
		truncated       bool
	}{"valid": {0, 3, false}, "flipped": {1, 1, false}, "truncated": {1, 2, true}} {
		res := fzScan(t, seeds[name], true)
		if mem := fzScan(t, seeds[name], false); !reflect.DeepEqual(mem, res) {
			t.Fatalf("seed %s: scan in memory\n%+v\nscan of the file\n%+v", name, mem, res)
		}
		if res == nil || len(res.Damage) != want.damage || res.TruncatedTail != want.truncated || len(res.Objects) != want.objects {
			t.Fatalf("seed %s: scan %+v", name, res)
		}
	}
	if !bytes.Equal(fzUnpack(fzSeeds(t)["FuzzScanPacked"]["valid"]), seeds["valid"]) {
		t.Fatalf("a packed volume does not unpack to itself")
	}
	if _, err := CheckBlock(fzSeeds(t)["FuzzBlock"]["valid"]); err != nil {
		t.Fatalf("valid block seed: %v", err)
	}
}

// fzMem returns data as a medium in memory, taking the block size from
// the label like vtape.Open; nil if there is none.
func fzMem(data []byte) *rtMem {
	if len(data) < BlockHeaderSize || string(data[:4]) != "DSY1" {
		return nil
	}
	bs := int(binary.LittleEndian.Uint32(data[40:]))
	if bs < 1 || bs > MaxBlockSize || len(data) < bs {
		return nil
	}
	m := &rtMem{bs: bs}
	for ; len(data) >= bs; data = data[bs:] {
		m.blocks = append(m.blocks, data[:bs])
	}
	if len(data) > 0 {
		m.tail = data
	}
	return m
}

// fzScan reads data as a volume with a Reader and scans it, checking what
// must hold whatever the input. With file set, data is a volume file
// mounted with vtape; else a medium in memory (much faster). It returns
// the scan result, nil if data is not a volume.
func fzScan(t *testing.T, data []byte, file bool) *ScanResult {
	var m, m2 device.Medium
	var blocks int64
	if file {
		path := filepath.Join(t.TempDir(), "vol")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		vm, err := vtape.Open(path, vtape.Options{})
		if err != nil {
			return nil
		}
		defer vm.Close()
		m, m2, blocks = vm, vm, vm.Blocks()
	} else {
		mm := fzMem(data)
		if mm == nil {
			return nil
		}
		m, m2 = mm, fzMem(data)
		blocks = int64(len(mm.blocks))
		if mm.tail != nil {
			blocks++
		}
	}

	r, rerr := NewReader(m)
	var readerDamage []int64
	if rerr == nil {
		r.SetOnDamage(func(d Damage) {
			if !errors.Is(d, ErrBadBlock) && !errors.Is(d, io.ErrUnexpectedEOF) {
				t.Fatalf("damage %v is neither ErrBadBlock nor io.ErrUnexpectedEOF", d)
			}
			readerDamage = append(readerDamage, d.Block)
		})
		for n := 0; ; n++ {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if n > len(data)/records.HeaderSize {
				t.Fatalf("more records than the file can hold")
			}
			if rec.Block < 1 || rec.Block >= blocks || len(rec.Payload) != int(rec.Header.Length) {
				t.Fatalf("record %+v in block %d of %d", rec.Header, rec.Block, blocks)
			}
		}
	}

	res, err := Scan(m2)
	if (err == nil) != (rerr == nil) {
		t.Fatalf("NewReader: %v, Scan: %v", rerr, err)
	}
	if err != nil {
		return nil
	}
	if res.Blocks > res.GoodEnd || res.GoodEnd > blocks || res.GoodEnd < 1 {
		t.Fatalf("blocks %d, good end %d, %d blocks in the file", res.Blocks, res.GoodEnd, blocks)
	}
	var blockDamage []int64
	tail := false
	for _, d := range res.Damage {
		if errors.Is(d, records.ErrCorrupt) && !errors.Is(d, ErrBadBlock) {
			if d.Block >= res.GoodEnd {
				t.Fatalf("record out of place after the good end: %v", d)
			}
			continue
		}
		blockDamage = append(blockDamage, d.Block)
		tail = tail || d.Block >= res.GoodEnd
	}
	if fmt.Sprint(blockDamage) != fmt.Sprint(readerDamage) {
		t.Fatalf("scan damage %v, reader damage %v", blockDamage, readerDamage)
	}
	if tail != res.TruncatedTail {
		t.Fatalf("truncated tail %v with damage %v and good end %d", res.TruncatedTail, res.Damage, res.GoodEnd)
	}
	// Every block before the good end is valid or damaged, once.
	if res.Blocks+int64(len(blockDamage)-countFrom(blockDamage, res.GoodEnd)) != res.GoodEnd {
		t.Fatalf("blocks %d and damage %v do not cover the %d blocks before the good end", res.Blocks, blockDamage, res.GoodEnd)
	}
	for _, s := range res.Sessions {
		if s.FirstBlock < 1 || s.FirstBlock > s.LastBlock || s.LastBlock >= res.GoodEnd {
			t.Fatalf("session %+v", s)
		}
	}
	for _, o := range res.Objects {
		prev := int64(0)
		for _, e := range o.Extents {
			if e.FirstBlock <= prev || e.LastBlock < e.FirstBlock || e.Records < 1 || e.LastBlock >= res.GoodEnd {
				t.Fatalf("object %s: extents %+v", o.ID, o.Extents)
			}
			prev = e.LastBlock + 1
		}
		if len(o.Extents) == 0 || o.LastSeq < o.FirstSeq {
			t.Fatalf("object %+v", o)
		}
		for _, mr := range o.Missing {
			if mr.From > mr.To {
				t.Fatalf("object %s: missing %+v", o.ID, o.Missing)
			}
		}
	}
	return res
}

func countFrom(blocks []int64, from int64) int {
	n := 0
	for _, b := range blocks {
		if b >= from {
			n++
		}
	}
	return n
}

// fzRepair returns data with the CRCs of every block and record whose
// header parses made right, so that the fuzzer also reaches volumes whose
// blocks check but whose contents are odd.
func fzRepair(data []byte) []byte {
	b := bytes.Clone(data)
	if len(b) < BlockHeaderSize {
		return b
	}
	bs := int(binary.LittleEndian.Uint32(b[40:]))
	if !ValidBlockSize(bs) {
		return b
	}
	for off := 0; off+BlockHeaderSize <= len(b); off += bs {
		blk := b[off:min(off+bs, len(b))]
		h, err := ParseBlockHeader(blk)
		if err != nil || BlockHeaderSize+int(h.Length) > len(blk) {
			continue
		}
		fzRepairRecords(blk[BlockHeaderSize : BlockHeaderSize+int(h.Length)])
		PutBlockHeader(blk, h)
	}
	return b
}

func fzRepairRecords(p []byte) {
	for off := 0; off+records.HeaderSize <= len(p); {
		h, err := records.ParseHeader(p[off:])
		if err != nil || h.Size() > len(p)-off {
			return
		}
		r := p[off : off+h.Size()]
		binary.LittleEndian.PutUint32(r[36:], records.UpdateChecksum(records.Checksum(r[:36]), r[records.HeaderSize:]))
		off += h.Size()
	}
}

func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fzScan(t, data, true)
		if fixed := fzRepair(data); !bytes.Equal(fixed, data) {
			fzScan(t, fixed, true)
		}
	})
}

// FuzzScanPacked fuzzes the reader and the scanner like FuzzReader, on a
// packed volume: each block is given without its zero padding (header and
// payload only), and fzUnpack pads it to the block size. The inputs are a
// few hundred bytes instead of hundreds of KiB, so the fuzzer mutates
// headers and records, not padding.
func FuzzScanPacked(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		vol := fzUnpack(data)
		fzScan(t, vol, false)
		if fixed := fzRepair(vol); !bytes.Equal(fixed, vol) {
			fzScan(t, fixed, false)
		}
	})
}

// fzPack drops the padding of each block of a volume.
func fzPack(vol []byte) []byte {
	var out []byte
	bs := int(binary.LittleEndian.Uint32(vol[40:]))
	for off := 0; off < len(vol); off += bs {
		blk := vol[off:min(off+bs, len(vol))]
		n := BlockHeaderSize + int(binary.LittleEndian.Uint32(blk[32:]))
		out = append(out, blk[:min(n, len(blk))]...)
	}
	return out
}

// fzUnpack pads the blocks of a packed volume: the block size is the one
// its first header gives (64 KiB if that is not a valid one, nothing above
// 1 MiB), and each block is its header and payload length bytes of
// payload; fewer than 64 bytes at the end are a partial block.
func fzUnpack(data []byte) []byte {
	if len(data) < BlockHeaderSize {
		return data
	}
	bs := int(binary.LittleEndian.Uint32(data[40:]))
	if !ValidBlockSize(bs) {
		bs = MinBlockSize
	}
	if bs > 1<<20 {
		return nil
	}
	var out []byte
	for len(data) > 0 && len(out) < 16<<20 {
		if len(data) < BlockHeaderSize {
			out = append(out, data...)
			break
		}
		n := BlockHeaderSize + min(int(binary.LittleEndian.Uint32(data[32:])), bs-BlockHeaderSize, len(data)-BlockHeaderSize)
		out = append(out, data[:n]...)
		out = append(out, make([]byte, bs-n)...)
		data = data[n:]
	}
	return out
}

func FuzzBlock(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fzBlock(t, data)
		// Again with the CRCs made right, to reach the record checks.
		if len(data) >= BlockHeaderSize {
			if h, err := ParseBlockHeader(data); err == nil && BlockHeaderSize+int(h.Length) <= len(data) {
				b := bytes.Clone(data)
				fzRepairRecords(b[BlockHeaderSize : BlockHeaderSize+int(h.Length)])
				PutBlockHeader(b, h)
				if _, err := CheckBlock(b); err != nil {
					t.Fatalf("CheckBlock of a block PutBlockHeader made: %v", err)
				}
				fzBlock(t, b)
			}
		}
	})
}

func fzBlock(t *testing.T, data []byte) {
	h, err := CheckBlock(data)
	if err != nil {
		if !errors.Is(err, ErrBadBlock) {
			t.Fatalf("CheckBlock error %v is not ErrBadBlock", err)
		}
		return
	}
	if h.Version != FormatVersion || !ValidBlockSize(int(h.BlockSize)) || BlockHeaderSize+int(h.Length) > len(data) || h.Length > h.BlockSize-BlockHeaderSize {
		t.Fatalf("CheckBlock accepted header %+v of a %d-byte block", h, len(data))
	}
	// Re-encoding the header gives the same bytes (with the reserved bytes
	// zero and the version of this daisy, which CheckBlock demands).
	again := bytes.Clone(data[:BlockHeaderSize+int(h.Length)])
	PutBlockHeader(again, h)
	if !bytes.Equal(again[:44], data[:44]) || !bytes.Equal(again[60:64], data[60:64]) {
		t.Fatalf("header %+v re-encodes differently", h)
	}
	// The records walk the reader does.
	p := data[BlockHeaderSize : BlockHeaderSize+int(h.Length)]
	if err := checkRecords(p, h.Records); err != nil {
		if !errors.Is(err, ErrBadBlock) {
			t.Fatalf("checkRecords error %v is not ErrBadBlock", err)
		}
		return
	}
	n := uint32(0)
	for len(p) > 0 {
		rh, err := records.ParseHeader(p)
		if err != nil || rh.Size() > len(p) {
			t.Fatalf("checkRecords accepted a payload that does not parse: %v", err)
		}
		p = p[rh.Size():]
		n++
	}
	if n != h.Records {
		t.Fatalf("checkRecords accepted %d records for %d", n, h.Records)
	}
}

func FuzzRecordDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, p, err := records.Decode(data)
		if err != nil {
			if !errors.Is(err, records.ErrCorrupt) {
				t.Fatalf("Decode error %v is not ErrCorrupt", err)
			}
			return
		}
		n := h.Size()
		if n > len(data) || len(p) != int(h.Length) || h.Length > records.MaxPayload {
			t.Fatalf("Decode: header %+v, %d payload bytes of %d", h, len(p), len(data))
		}
		enc := records.Encode(nil, h.Type, h.Object, h.Offset, h.Seq, p)
		if h.Flags != 0 {
			// records.Encode cannot set the reserved flags byte, which
			// Decode accepts: set it and the CRC to compare the rest.
			enc[3] = h.Flags
			binary.LittleEndian.PutUint32(enc[36:], records.UpdateChecksum(records.Checksum(enc[:36]), enc[records.HeaderSize:]))
		}
		if !bytes.Equal(enc, data[:n]) {
			t.Fatalf("re-encoding %+v gives\n%x\nnot\n%x", h, enc[:records.HeaderSize], data[:records.HeaderSize])
		}
	})
}
