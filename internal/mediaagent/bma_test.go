package mediaagent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"daisy/internal/buffers"
	"daisy/internal/device"
	"daisy/internal/device/fault"
	"daisy/internal/device/vtape"
	"daisy/internal/records"
	"daisy/internal/volume"
)

// dirVolumes is a VolumeSource over a directory of vtape files, with a
// capacity and an optional fault shared by every volume (a failing drive).
type dirVolumes struct {
	dir      string
	capacity int64
	fault    *fault.Fault
	n        int
	released []string
	made     []Volume // every volume created, for readers
}

func (d *dirVolumes) Next(ctx context.Context) (Mount, error) {
	d.n++
	label := fmt.Sprintf("T%03d", d.n)
	vm, err := vtape.Create(filepath.Join(d.dir, label+".vtape"), vtape.Options{BlockSize: volume.DefaultBlockSize, Capacity: d.capacity})
	if err != nil {
		return Mount{}, err
	}
	var m device.Medium = vm
	if d.fault != nil {
		m = fault.Medium(vm, d.fault)
	}
	l := volume.Label{VolumeID: records.NewID(), Label: label, Pool: "p", BlockSize: volume.DefaultBlockSize, Created: time.Now()}
	if err := volume.Format(m, l); err != nil {
		return Mount{}, err
	}
	d.made = append(d.made, Volume{ID: l.VolumeID.String(), Label: label, Pool: "p", Ref: m.Name(), BlockSize: volume.DefaultBlockSize, Created: l.Created})
	return Mount{Medium: m, Label: l, At: 1}, nil
}

func (d *dirVolumes) Release(ctx context.Context, m Mount, blocks int64, full bool, failed error) error {
	d.released = append(d.released, fmt.Sprintf("%s:%d:%v:%v", m.Label.Label, blocks, full, failed != nil))
	return m.Medium.Close()
}

// feed writes an object of size bytes into buf from its own goroutine.
func feed(t *testing.T, ctx context.Context, pool *records.Pool, buf *buffers.Buffer, size int) records.ID {
	id := records.NewID()
	go func() {
		w, err := records.NewStreamWriter(id, records.BeginInfo{Source: buf.Name()}, pool, func(r *records.Record) error { return buf.Push(ctx, r) })
		if err != nil {
			buf.Fail(err)
			return
		}
		chunk := make([]byte, 1<<20)
		rand.Read(chunk)
		for left := size; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				buf.Fail(err)
				return
			}
		}
		if _, err := w.Close(); err != nil {
			buf.Fail(err)
			return
		}
		buf.Close()
	}()
	return id
}

func newBMA(vols VolumeSource, bufs ...*buffers.Buffer) *BMA {
	a := &BMA{Name: "bma", Device: "dev", Volumes: vols, Notify: make(chan struct{}, 1), ExtentTarget: 4 << 20}
	for i, b := range bufs {
		a.Inputs = append(a.Inputs, Input{Name: b.Name(), Cursor: b.Attach("bma", a.Notify), Copy: i + 1})
	}
	return a
}

func TestMultiplexWritesLongExtents(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	vols := &dirVolumes{dir: t.TempDir()}
	b1, b2 := buffers.New("B1", 2<<20), buffers.New("B2", 2<<20)
	a := newBMA(vols, b1, b2)
	const size = 24 << 20
	id1 := feed(t, ctx, &pool, b1, size)
	id2 := feed(t, ctx, &pool, b2, size)
	res, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results, want 2", len(res))
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("object %s: %v", r.Object, r.Err)
		}
		if r.Object != id1 && r.Object != id2 {
			t.Fatalf("unknown object %s", r.Object)
		}
		if r.Bytes != size {
			t.Fatalf("object %s: %d payload bytes written, want %d", r.Object, r.Bytes, size)
		}
		// Both producers run at once, yet each object is written in a few
		// long runs, not block by block.
		if len(r.Extents) > size/(1<<20) {
			t.Fatalf("object %s in %d extents: multiplexing is not keeping runs long", r.Object, len(r.Extents))
		}
		var prev uint64
		for i, e := range r.Extents {
			if e.FirstOffset > prev || e.EndOffset < e.FirstOffset {
				t.Fatalf("extent %d: offsets %d..%d after %d", i, e.FirstOffset, e.EndOffset, prev)
			}
			prev = e.EndOffset
		}
		if prev != size {
			t.Fatalf("extents end at %d, object is %d bytes", prev, size)
		}
	}
}

func TestSpanningCarriesOn(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	vols := &dirVolumes{dir: t.TempDir(), capacity: 4 << 20}
	b := buffers.New("B1", 4<<20)
	a := newBMA(vols, b)
	feed(t, ctx, &pool, b, 10<<20)
	res, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if n := len(a.VolumesWritten()); n < 3 {
		t.Fatalf("10 MiB on 4 MiB volumes used %d volumes", n)
	}
	labels := map[string]bool{}
	for _, e := range res[0].Extents {
		labels[e.Label] = true
	}
	if len(labels) != len(a.VolumesWritten()) {
		t.Fatalf("extents on %d volumes, agent wrote %d", len(labels), len(a.VolumesWritten()))
	}
	// Every volume but the last was released full.
	for i, r := range vols.released {
		full := i < len(vols.released)-1
		if want := fmt.Sprintf(":%v:false", full); r[len(r)-len(want):] != want {
			t.Fatalf("release %d: %s, want full=%v", i, r, full)
		}
	}
}

func TestDeviceFailureFailsCopiesAndDetaches(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pool records.Pool
	vols := &dirVolumes{dir: t.TempDir(), fault: &fault.Fault{After: 3 << 20}}
	b := buffers.New("B1", 1<<20)
	// A second consumer, as a chain's forwarder would be.
	other := b.Attach("mirror", nil)
	a := newBMA(vols, b)
	feed(t, ctx, &pool, b, 8<<20)
	var wg sync.WaitGroup
	got := 0
	wg.Go(func() {
		for {
			if _, ok := other.Next(ctx); !ok {
				return
			}
			got += 1
			other.Ack()
		}
	})
	res, err := a.Run(ctx)
	if !errors.Is(err, device.ErrInjected) {
		t.Fatalf("Run returned %v, want the injected device failure", err)
	}
	if len(res) != 1 || res[0].Err == nil {
		t.Fatalf("results %+v: the copy must be failed", res)
	}
	wg.Wait()
	// The other consumer got the whole object although the device died:
	// begin + 8 MiB of data records + end.
	want := 2 + (8<<20+records.MaxPayload-1)/records.MaxPayload
	if got != want || ctx.Err() != nil {
		t.Fatalf("other consumer got %d records, want %d (ctx %v)", got, want, ctx.Err())
	}
}

func BenchmarkBMA(b *testing.B) {
	ctx := context.Background()
	var pool records.Pool
	dir := b.TempDir()
	b.SetBytes(64 << 20)
	for i := 0; b.Loop(); i++ {
		vols := &dirVolumes{dir: filepath.Join(dir, fmt.Sprint(i))}
		if err := mkdir(vols.dir); err != nil {
			b.Fatal(err)
		}
		bufs := []*buffers.Buffer{buffers.New("B1", 16<<20), buffers.New("B2", 16<<20)}
		a := newBMA(vols, bufs...)
		for _, buf := range bufs {
			feedB(ctx, &pool, buf, 32<<20)
		}
		if _, err := a.Run(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A drive that fails while writing the trailer of a full volume fails the
// session on both volumes: each is released as failed (so that its pool
// cuts what the session wrote), none is left mounted.
func TestFailedTrailerReleasesBothVolumes(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	const bs = volume.DefaultBlockSize
	// 16 blocks per volume: the label and 13 blocks before the early
	// warning, then the next volume's label; the 16th block written is
	// the old volume's trailer.
	vols := &dirVolumes{dir: t.TempDir(), capacity: 16 * bs, fault: &fault.Fault{After: 15 * bs}}
	b := buffers.New("B1", 4<<20)
	a := newBMA(vols, b)
	feed(t, ctx, &pool, b, 10<<20)
	res, err := a.Run(ctx)
	if !errors.Is(err, device.ErrInjected) {
		t.Fatalf("Run returned %v, want the injected failure", err)
	}
	if len(res) != 1 || res[0].Err == nil {
		t.Fatalf("results %+v: the copy must be failed", res)
	}
	want := []string{"T001:14:false:true", "T002:1:false:true"}
	if fmt.Sprint(vols.released) != fmt.Sprint(want) {
		t.Fatalf("released %q, want %q", vols.released, want)
	}
}

// TestBMAReportsExtentsAsWritten: the agent reports each copy's extents as
// their blocks reach the medium (the block is in the volume file when the
// report comes), and the reports add up to the extents of its results.
func TestBMAReportsExtentsAsWritten(t *testing.T) {
	ctx := context.Background()
	var pool records.Pool
	vols := &dirVolumes{dir: t.TempDir(), capacity: 6 << 20}
	b1, b2 := buffers.New("B1", 1<<20), buffers.New("B2", 1<<20)
	a := newBMA(vols, b1, b2)
	a.ExtentTarget = 1 << 20
	type key struct {
		id   records.ID
		copy int
	}
	got := map[key][]Extent{}
	reports := 0
	a.OnExtent = func(r ExtentReport) {
		reports++
		k := key{r.Object, r.Copy}
		switch {
		case r.Seq == len(got[k]):
			got[k] = append(got[k], r.Extent)
		case r.Seq == len(got[k])-1:
			got[k][r.Seq] = r.Extent
		default:
			t.Errorf("report of extent %d of %v after %d extents", r.Seq, k, len(got[k]))
			return
		}
		fi, err := os.Stat(filepath.Join(vols.dir, r.Extent.Label+".vtape"))
		if err != nil || fi.Size() < (r.Extent.LastBlock+1)*volume.DefaultBlockSize {
			t.Errorf("extent %+v reported before its block is on the medium (%v, %d bytes)", r.Extent, err, fi.Size())
		}
	}
	feed(t, ctx, &pool, b1, 5<<20)
	feed(t, ctx, &pool, b2, 5<<20)
	res, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols.made) < 2 {
		t.Fatalf("%d volumes: the test wants the copies to span", len(vols.made))
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if g := got[key{r.Object, r.Copy}]; !reflect.DeepEqual(g, r.Extents) || len(g) < 2 {
			t.Fatalf("copy %d of %s: reported extents\n%+v\nresult's\n%+v", r.Copy, r.Object, g, r.Extents)
		}
	}
	if reports < 40 {
		t.Fatalf("%d reports for 10 MiB in 256 KiB blocks: not one per block", reports)
	}
}
