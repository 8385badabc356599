package s3

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"daisy/internal/device"
	"daisy/internal/device/s3/s3test"
)

const testBS = 64 << 10

// newLib starts a server and returns a library on it with parts of three
// blocks.
func newLib(t *testing.T, mod func(*Options)) (*Library, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t)
	srv.SetEnv(t)
	o := Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: "pools/p1", Region: "us-east-1",
		PartSize: 3 * testBS, RetryWait: time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l, srv
}

// block returns block n of a test volume: a daisy-like header (magic,
// block number, block size) and bytes that depend on n and seed.
func block(n int64, seed byte) []byte {
	b := make([]byte, testBS)
	for i := range b {
		b[i] = byte(int64(i)*7+n*13) ^ seed
	}
	copy(b, "DSY1")
	binary.LittleEndian.PutUint64(b[24:], uint64(n))
	binary.LittleEndian.PutUint32(b[40:], testBS)
	return b
}

func writeBlocks(t *testing.T, m device.Medium, from, to int64, seed byte) {
	t.Helper()
	for n := from; n < to; n++ {
		if err := m.WriteBlock(block(n, seed)); err != nil {
			t.Fatalf("write block %d: %v", n, err)
		}
	}
}

func readAll(t *testing.T, m device.Medium) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		b := make([]byte, m.BlockSize())
		err := m.ReadBlock(b)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read block %d: %v", len(out), err)
		}
		out = append(out, b)
	}
}

// objects lists the keys and ETags under the library's prefix.
func objects(t *testing.T, l *Library) map[string]string {
	t.Helper()
	out := map[string]string{}
	for oi := range l.c.ListObjects(context.Background(), l.o.Bucket, minio.ListObjectsOptions{Prefix: l.prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		out[strings.TrimPrefix(oi.Key, l.prefix)] = oi.ETag + "@" + oi.LastModified.String()
	}
	return out
}

func TestWriteReadLocate(t *testing.T) {
	l, _ := newLib(t, nil)
	ctx := context.Background()
	m, ref, err := l.Create(ctx, "VOL001", testBS)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "VOL001" || m.Name() != "s3://daisy-test/pools/p1/VOL001" {
		t.Fatalf("ref %q, name %q", ref, m.Name())
	}
	writeBlocks(t, m, 0, 10, 1)
	// Nine blocks in three parts are uploaded, the tenth waits for Sync.
	if got := objects(t, l); len(got) != 4 {
		t.Fatalf("before sync: objects %v, want manifest and 3 parts", keysOf(got))
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"VOL001/manifest.json", "VOL001/part-00000001-000000000000", "VOL001/part-00000002-000000000003",
		"VOL001/part-00000003-000000000006", "VOL001/part-00000004-000000000009"}
	if got := keysOf(objects(t, l)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("objects %v, want %v", got, want)
	}

	r, err := l.Open(ctx, ref, device.ReadOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.BlockSize() != testBS {
		t.Fatalf("block size %d", r.BlockSize())
	}
	blocks := readAll(t, r)
	if len(blocks) != 10 {
		t.Fatalf("read %d blocks, want 10", len(blocks))
	}
	for n, b := range blocks {
		if !bytes.Equal(b, block(int64(n), 1)) {
			t.Fatalf("block %d differs", n)
		}
	}
	// A sequential read fetches windows of 1, 2, 4, ... blocks, each
	// within one part: 0, 1-2, then the parts 3-5, 6-8 and 9 whole.
	if req, by := r.(*Medium).Fetched(); req != 5 || by != 10*testBS {
		t.Fatalf("sequential read: %d requests, %d bytes; want 5, %d", req, by, 10*testBS)
	}
	loc := r.(device.Locator)
	for _, n := range []int64{7, 2, 9, 0, 5} {
		if err := loc.Locate(n); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, testBS)
		if err := r.ReadBlock(b); err != nil {
			t.Fatalf("read block %d after locate: %v", n, err)
		}
		if !bytes.Equal(b, block(n, 1)) {
			t.Fatalf("block %d after locate differs", n)
		}
		if r.Position() != n+1 {
			t.Fatalf("position %d after reading block %d", r.Position(), n)
		}
	}
	if err := loc.Locate(11); err == nil {
		t.Fatal("locate past the end succeeded")
	}
	if err := r.WriteBlock(block(10, 1)); err == nil {
		t.Fatal("write on a read-only medium succeeded")
	}
	if _, err := l.Open(ctx, ref, device.ReadOnly, 2*testBS); err == nil || !strings.Contains(err.Error(), "blocks of 65536 bytes") {
		t.Fatalf("open with another block size: %v", err)
	}
	if _, err := l.Open(ctx, "NOSUCH", device.ReadOnly, 0); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("open of a missing volume: %v, want ErrNoVolume", err)
	}
	if _, _, err := l.Create(ctx, "VOL001", testBS); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create of an existing label: %v, want ErrExist", err)
	}
	for _, bad := range []string{"", "..", "a/b", "x\x01"} {
		if _, _, err := l.Create(ctx, bad, testBS); err == nil {
			t.Fatalf("create %q succeeded", bad)
		}
	}
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// An append uploads new parts and leaves every object holding data as it
// was.
func TestAppendNeverRewrites(t *testing.T) {
	l, _ := newLib(t, nil)
	ctx := context.Background()
	m, ref, err := l.Create(ctx, "A", testBS)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 0, 4, 2)
	if err := m.Close(); err != nil { // Close uploads the waiting block
		t.Fatal(err)
	}
	before := objects(t, l)
	time.Sleep(1100 * time.Millisecond) // a rewrite would change LastModified
	a, err := l.Open(ctx, ref, device.Append, testBS)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.(device.Locator).Locate(4); err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, a, 4, 9, 2)
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	after := objects(t, l)
	for k, v := range before {
		if k == "A/manifest.json" {
			continue
		}
		if after[k] != v {
			t.Fatalf("object %s changed by an append: %s -> %s", k, v, after[k])
		}
	}
	if len(after) != len(before)+2 {
		t.Fatalf("objects after append %v", keysOf(after))
	}
	// Reads see the blocks waiting for upload too.
	writeBlocks(t, a, 9, 10, 2)
	a.(device.Locator).Locate(0)
	got := readAll(t, a)
	if len(got) != 10 {
		t.Fatalf("read %d blocks", len(got))
	}
	for n, b := range got {
		if !bytes.Equal(b, block(int64(n), 2)) {
			t.Fatalf("block %d differs", n)
		}
	}
	a.(device.Locator).Locate(3)
	if err := a.WriteBlock(block(3, 2)); err == nil {
		t.Fatal("a write in the middle of the volume succeeded")
	}
	a.Close()
}

func TestTruncate(t *testing.T) {
	l, _ := newLib(t, nil)
	ctx := context.Background()
	m, ref, err := l.Create(ctx, "T", testBS)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 0, 11, 3) // parts 0-2, 3-5, 6-8; 9, 10 waiting
	tr := m.(device.Truncater)
	if err := tr.Truncate(10); err != nil { // in the waiting blocks
		t.Fatal(err)
	}
	if err := tr.Truncate(5); err != nil { // into the second part
		t.Fatal(err)
	}
	if m.Position() != 5 {
		t.Fatalf("position %d after truncate", m.Position())
	}
	got := keysOf(objects(t, l))
	want := "T/manifest.json T/part-00000001-000000000000 T/part-00000002-000000000003"
	if strings.Join(got, " ") != want {
		t.Fatalf("objects after truncate %v, want %s", got, want)
	}
	writeBlocks(t, m, 5, 8, 4) // a new session after the cut
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := l.Open(ctx, ref, device.ReadOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	blocks := readAll(t, r)
	if len(blocks) != 8 {
		t.Fatalf("%d blocks after truncate and append, want 8", len(blocks))
	}
	for n, b := range blocks {
		seed := byte(3)
		if n >= 5 {
			seed = 4
		}
		if !bytes.Equal(b, block(int64(n), seed)) {
			t.Fatalf("block %d differs", n)
		}
	}
	r.Close()
	if err := r.(device.Truncater).Truncate(0); err == nil {
		t.Fatal("truncate of a closed medium succeeded")
	}
	ro, _ := l.Open(ctx, ref, device.ReadOnly, 0)
	if err := ro.(device.Truncater).Truncate(1); err == nil {
		t.Fatal("truncate of a read-only medium succeeded")
	}
	ro.Close()

	// A lost manifest is recovered from the part objects, the part
	// written after the cut winning over the blocks of the one it cut.
	if err := l.c.RemoveObject(ctx, l.o.Bucket, l.volKey(ref)+manifestName, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	rec, err := l.Open(ctx, ref, device.ReadOnly, 0)
	if err != nil {
		t.Fatalf("open without manifest: %v", err)
	}
	blocks = readAll(t, rec)
	if len(blocks) != 8 {
		t.Fatalf("recovered %d blocks, want 8", len(blocks))
	}
	for n, b := range blocks {
		seed := byte(3)
		if n >= 5 {
			seed = 4
		}
		if !bytes.Equal(b, block(int64(n), seed)) {
			t.Fatalf("recovered block %d differs", n)
		}
	}
	found, err := l.List(ctx)
	if err != nil || len(found) != 1 || found[0].Ref != "T" || found[0].Size != -1 {
		t.Fatalf("list without manifest: %v, %v", found, err)
	}
}

func TestEarlyWarning(t *testing.T) {
	l, _ := newLib(t, func(o *Options) { o.Capacity = 8 * testBS })
	if !l.Caps().EarlyWarning || !l.Caps().Seekable || !l.Caps().Truncate || !l.Caps().Append {
		t.Fatalf("caps %+v", l.Caps())
	}
	m, _, err := l.Create(context.Background(), "E", testBS)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 0, 6, 5)
	if err := m.WriteBlock(block(6, 5)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("block 6 of 8: %v, want the early warning", err)
	}
	if m.Position() != 6 {
		t.Fatalf("the early warning wrote: position %d", m.Position())
	}
	writeBlocks(t, m, 6, 8, 5) // the reserve
	if err := m.WriteBlock(block(8, 5)); !errors.Is(err, device.ErrFull) {
		t.Fatalf("block 8 of 8: %v, want ErrFull", err)
	}
	if err := m.(device.Truncater).Truncate(4); err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 4, 6, 6) // below the warning again
	if err := m.WriteBlock(block(6, 5)); !errors.Is(err, device.ErrEndOfMedium) {
		t.Fatalf("after truncate, block 6: %v, want the early warning", err)
	}
	m.Close()
	if _, err := New(Options{Endpoint: l.o.Endpoint, Bucket: "b", Capacity: 3 * testBS}); err != nil {
		t.Fatal(err)
	} else if l2, _ := New(Options{Endpoint: l.o.Endpoint, Bucket: "b", Capacity: 3 * testBS}); l2 != nil {
		if _, _, err := l2.Create(context.Background(), "X", testBS); err == nil || !strings.Contains(err.Error(), "capacity") {
			t.Fatalf("create with a capacity of 3 blocks: %v", err)
		}
	}
}

// faulty fails the requests it is told to, before they reach the server.
type faulty struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	fail  atomic.Int64 // requests still to fail; -1: all
	seen  atomic.Int64 // matching requests
}

func (f *faulty) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.match(r) {
		f.seen.Add(1)
		if n := f.fail.Load(); n != 0 {
			if n > 0 {
				f.fail.Add(-1)
			}
			if r.Body != nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
				Header: http.Header{"Content-Type": {"application/xml"}}, Request: r,
				Body: io.NopCloser(strings.NewReader(`<?xml version="1.0"?><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>`))}, nil
		}
	}
	return f.next.RoundTrip(r)
}

func partPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/part-")
}

func TestUploadRetried(t *testing.T) {
	f := &faulty{next: http.DefaultTransport.(*http.Transport).Clone(), match: partPut}
	l, _ := newLib(t, func(o *Options) { o.Transport = f; o.Retries = 3 })
	ctx := context.Background()
	m, ref, err := l.Create(ctx, "R", testBS)
	if err != nil {
		t.Fatal(err)
	}
	// Two failures, then the upload goes through.
	f.fail.Store(2)
	writeBlocks(t, m, 0, 3, 7)
	if f.seen.Load() != 3 {
		t.Fatalf("%d part uploads, want 3 (two failed)", f.seen.Load())
	}
	// Every try fails: the block that filled the part is not written.
	f.fail.Store(-1)
	writeBlocks(t, m, 3, 5, 7)
	f.seen.Store(0)
	err = m.WriteBlock(block(5, 7))
	if err == nil {
		t.Fatal("a write whose upload failed succeeded")
	}
	if f.seen.Load() != 4 || !strings.Contains(err.Error(), "4 attempts") || !strings.Contains(err.Error(), "upload s3://daisy-test/pools/p1/R/part-00000002-000000000003") {
		t.Fatalf("%d tries; error %v", f.seen.Load(), err)
	}
	if m.Position() != 5 {
		t.Fatalf("position %d after a failed write, want 5", m.Position())
	}
	if err := m.Sync(); err == nil {
		t.Fatal("sync with a failing upload succeeded")
	}
	// The server is back: the blocks still waiting are uploaded.
	f.fail.Store(0)
	writeBlocks(t, m, 5, 6, 7)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := l.Open(ctx, ref, device.ReadOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	blocks := readAll(t, r)
	if len(blocks) != 6 {
		t.Fatalf("%d blocks", len(blocks))
	}
	for n, b := range blocks {
		if !bytes.Equal(b, block(int64(n), 7)) {
			t.Fatalf("block %d differs", n)
		}
	}
	// Reads are retried too.
	f.match = func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/part-")
	}
	f.fail.Store(2)
	r.(device.Locator).Locate(4)
	b := make([]byte, testBS)
	if err := r.ReadBlock(b); err != nil || !bytes.Equal(b, block(4, 7)) {
		t.Fatalf("read with two failed tries: %v", err)
	}
	f.fail.Store(-1)
	r.(device.Locator).Locate(0)
	if err := r.ReadBlock(b); err == nil {
		t.Fatal("a read that always fails succeeded")
	}
	r.Close()
}

// A part object that is gone reads as zeros: damage for the volume
// reader, not an end of the volume.
func TestLostPartReadsAsDamage(t *testing.T) {
	l, _ := newLib(t, nil)
	ctx := context.Background()
	m, ref, _ := l.Create(ctx, "L", testBS)
	writeBlocks(t, m, 0, 9, 8)
	m.Close()
	if err := l.c.RemoveObject(ctx, l.o.Bucket, l.volKey(ref)+"part-00000002-000000000003", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Open(ctx, ref, device.ReadOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	blocks := readAll(t, r)
	if len(blocks) != 9 {
		t.Fatalf("%d blocks", len(blocks))
	}
	for n, b := range blocks {
		want := block(int64(n), 8)
		if n >= 3 && n < 6 {
			want = make([]byte, testBS)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("block %d: got %x...", n, b[:8])
		}
	}
}

func TestListAndErase(t *testing.T) {
	l, srv := newLib(t, nil)
	ctx := context.Background()
	for i, label := range []string{"V2", "V1", "V3"} {
		m, _, err := l.Create(ctx, label, testBS)
		if err != nil {
			t.Fatal(err)
		}
		writeBlocks(t, m, 0, int64(i+1), 9)
		m.Close()
	}
	// Objects that are no volume are not listed; other prefixes neither.
	c := srv.Client(t)
	for _, k := range []string{"pools/p1/notes.txt", "pools/p1/junk/readme", "pools/p2/V9/manifest.json"} {
		if _, err := c.PutObject(ctx, srv.Bucket, k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	found, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(found) != fmt.Sprintf("[{V1 %d} {V2 %d} {V3 %d}]", 2*testBS, testBS, 3*testBS) {
		t.Fatalf("list: %v", found)
	}
	m, err := l.Erase(ctx, "V3", testBS)
	if err != nil {
		t.Fatal(err)
	}
	if m.Position() != 0 {
		t.Fatalf("erased medium at %d", m.Position())
	}
	if got := keysOf(objects(t, l)); strings.Join(got, " ") != "V1/manifest.json V1/part-00000001-000000000000 V2/manifest.json V2/part-00000001-000000000000 V3/manifest.json junk/readme notes.txt" {
		t.Fatalf("after erase: %v", got)
	}
	writeBlocks(t, m, 0, 1, 10)
	m.Close()
	got, _ := l.Open(ctx, "V3", device.ReadOnly, 0)
	blocks := readAll(t, got)
	if len(blocks) != 1 || !bytes.Equal(blocks[0], block(0, 10)) {
		t.Fatal("erased volume does not hold the new block")
	}
	// The new part has a number never used on the volume.
	if ks := keysOf(objects(t, l)); !strings.Contains(strings.Join(ks, " "), "V3/part-00000002-000000000000") {
		t.Fatalf("after rewrite: %v", ks)
	}
	if _, err := l.Erase(ctx, "NOSUCH", testBS); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("erase of a missing volume: %v", err)
	}
}

func TestCredentials(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	o := Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: "us-east-1", Retries: -1}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "credentials")
	os.WriteFile(file, []byte(fmt.Sprintf("[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[daisy]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey)), 0o600)
	o.CredentialsFile, o.Profile = file, "daisy"
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.List(context.Background()); err != nil {
		t.Fatalf("list with the credentials file: %v", err)
	}
	o.Profile = "none"
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "[none]") {
		t.Fatalf("missing profile: %v", err)
	}
	o.CredentialsFile = filepath.Join(dir, "missing")
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
	// A wrong secret: the error says to check the credentials and shows
	// neither key.
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-42")
	o.CredentialsFile = ""
	l, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Create(context.Background(), "C", testBS)
	if err == nil || !strings.Contains(err.Error(), "check the credentials") {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-secret-42") || strings.Contains(err.Error(), srv.AccessKey) || strings.Contains(l.Name(), srv.AccessKey) {
		t.Fatalf("credentials shown: %v / %s", err, l.Name())
	}
	// A bucket that does not exist is named.
	srv.SetEnv(t)
	o.Bucket = "no-such-bucket"
	l, _ = New(o)
	if _, _, err := l.Create(context.Background(), "C", testBS); err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Fatalf("missing bucket: %v", err)
	}
	for _, ep := range []string{"", "s3.example.com", "ftp://x", "http://x/path", "http://user:pw@x"} {
		if _, err := New(Options{Endpoint: ep, Bucket: "b"}); err == nil || !strings.Contains(err.Error(), "endpoint") {
			t.Fatalf("endpoint %q: %v", ep, err)
		}
	}
}

// Memory is bounded by the part size (writes) and the read-ahead
// (reads), whatever the volume's size.
func TestMemoryBounded(t *testing.T) {
	l, _ := newLib(t, func(o *Options) { o.PartSize = 5 * testBS; o.ReadAhead = 2 * testBS })
	ctx := context.Background()
	m, ref, _ := l.Create(ctx, "M", testBS)
	mm := m.(*Medium)
	for n := int64(0); n < 23; n++ {
		if err := m.WriteBlock(block(n, 11)); err != nil {
			t.Fatal(err)
		}
		if cap(mm.pend) > 5*testBS {
			t.Fatalf("write buffer of %d bytes, part size %d", cap(mm.pend), 5*testBS)
		}
	}
	m.Close()
	r, _ := l.Open(ctx, ref, device.ReadOnly, 0)
	rm := r.(*Medium)
	b := make([]byte, testBS)
	for n := 0; n < 23; n++ {
		if err := r.ReadBlock(b); err != nil {
			t.Fatal(err)
		}
		if cap(rm.win) > 2*testBS {
			t.Fatalf("read window of %d bytes, read-ahead %d", cap(rm.win), 2*testBS)
		}
	}
}

// A recyclable volume is cut to its label block: the part holding it is
// uploaded again with that block only, and the others are deleted.
func TestCutToLabel(t *testing.T) {
	l, _ := newLib(t, nil)
	ctx := context.Background()
	m, ref, _ := l.Create(ctx, "K", testBS)
	writeBlocks(t, m, 0, 8, 12)
	m.Close()
	before, err := l.VolumeSize(ctx, ref)
	if err != nil || before != 8*testBS {
		t.Fatalf("size %d, %v", before, err)
	}
	after, err := l.Cut(ctx, ref, testBS, 1)
	if err != nil || after != testBS {
		t.Fatalf("cut: %d, %v", after, err)
	}
	if got := keysOf(objects(t, l)); strings.Join(got, " ") != "K/manifest.json K/part-00000004-000000000000" {
		t.Fatalf("objects after the cut: %v", got)
	}
	if n, _ := l.VolumeSize(ctx, ref); n != testBS {
		t.Fatalf("size after the cut %d", n)
	}
	r, _ := l.Open(ctx, ref, device.ReadOnly, 0)
	blocks := readAll(t, r)
	if len(blocks) != 1 || !bytes.Equal(blocks[0], block(0, 12)) {
		t.Fatalf("after the cut: %d blocks", len(blocks))
	}
	if _, err := l.VolumeSize(ctx, "NONE"); !errors.Is(err, device.ErrNoVolume) {
		t.Fatalf("size of a missing volume: %v", err)
	}
}

// Over TLS, with the server's certificate trusted through CAFile; without
// it the certificate is refused.
func TestTLS(t *testing.T) {
	srv := s3test.StartTLS(t)
	srv.SetEnv(t)
	o := Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: "us-east-1", CAFile: srv.CAFile, Retries: -1}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, ref, err := l.Create(ctx, "TLS1", testBS)
	if err != nil {
		t.Fatal(err)
	}
	writeBlocks(t, m, 0, 3, 13)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := l.Open(ctx, ref, device.ReadOnly, 0)
	if err != nil {
		t.Fatal(err)
	}
	if blocks := readAll(t, r); len(blocks) != 3 || !bytes.Equal(blocks[2], block(2, 13)) {
		t.Fatalf("read back %d blocks over TLS", len(blocks))
	}
	o.CAFile = ""
	l2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l2.List(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a self-signed certificate not trusted: %v", err)
	}
	o.CAFile = filepath.Join(t.TempDir(), "none.pem")
	os.WriteFile(o.CAFile, []byte("not a certificate"), 0o600)
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
}
