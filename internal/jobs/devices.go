package jobs

import (
	"context"
	"sync"

	"daisy/internal/catalog"
	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/volume"
)

// noConfig reads volumes for the jobs that have no configuration at hand:
// by their reference alone (a vtape volume file's path).
var noConfig = devices.New(nil)

var (
	readMu  sync.Mutex
	readSet *devices.Set
)

// UseConfig makes the jobs that read volumes without a configuration of
// their own (restore, cat, verify) mount them through cfg's pools and
// devices: a tape pool's drive and changer, a bucket's endpoint. Volumes
// of pools cfg does not name are still read by their reference alone. The
// command line calls it once it has loaded the configuration; nil goes
// back to references alone.
func UseConfig(cfg *config.Config) {
	readMu.Lock()
	defer readMu.Unlock()
	if readSet != nil {
		readSet.Close()
	}
	readSet = nil
	if cfg != nil {
		readSet = devices.New(cfg)
	}
}

// readDevices returns the Set the reading jobs mount volumes through.
func readDevices() *devices.Set {
	readMu.Lock()
	defer readMu.Unlock()
	if readSet != nil {
		return readSet
	}
	return noConfig
}

// openMedium mounts volume v of the catalog in mode, through devs (nil:
// through the configuration given to UseConfig, else by its reference
// alone).
func openMedium(ctx context.Context, devs *devices.Set, v catalog.Volume, mode device.Mode) (device.Medium, error) {
	if devs == nil {
		devs = readDevices()
	}
	return devs.Open(ctx, devices.Volume{Pool: v.Pool, Label: v.Label, Ref: v.Path, BlockSize: v.BlockSize}, mode)
}

// ScanVolume reads the volume at ref (a volume file's path) from its
// label to its end without the catalog or the configuration
// (volume.ScanContext): what `daisy scan` reports of one volume.
func ScanVolume(ctx context.Context, ref string) (*volume.ScanResult, error) {
	m, err := noConfig.Open(ctx, devices.Volume{Ref: ref}, device.ReadOnly)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return volume.ScanContext(ctx, m)
}
