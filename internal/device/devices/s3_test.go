package devices

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/s3/s3test"
)

// A pool of type s3 in daisy.yaml builds a library on its bucket prefix.
func TestS3FromConfig(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "daisy.yaml"), []byte(fmt.Sprintf(`sources: [{name: home, paths: [/home]}]
pools:
  - {name: off, type: s3, endpoint: %q, bucket: %s, region: us-east-1, part_size: 1MiB, volume_capacity: 4MiB}
devices: [{name: s0, type: s3, block_size: 64KiB}]
backup_group: [{name: bma0, device: s0, pool: off, buffers: [{name: B1, source: home}]}]
`, srv.Endpoint, srv.Bucket)))
	if err != nil {
		t.Fatal(err)
	}
	set := New(cfg)
	defer set.Close()
	p, _ := cfg.Pool("off")
	d, _ := cfg.Device("s0")
	lib, err := set.Library(p, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lib.Name(), "s3 "+srv.Endpoint+"/"+srv.Bucket+"/off/") || !lib.Caps().EarlyWarning {
		t.Fatalf("library %s, caps %+v", lib.Name(), lib.Caps())
	}
	m, ref, err := lib.Create(context.Background(), "OFF001", 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 100; n++ {
		if err := m.WriteBlock(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	if n != 62 { // 4 MiB of 64 KiB blocks, less the reserve of 2
		t.Fatalf("early warning after %d blocks, want 62", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = set.Open(context.Background(), Volume{Pool: "off", Ref: ref}, device.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	found, err := lib.List(context.Background())
	if err != nil || len(found) != 1 || found[0].Ref != "OFF001" || found[0].Size != 62<<16 {
		t.Fatalf("list %v, %v", found, err)
	}
}
