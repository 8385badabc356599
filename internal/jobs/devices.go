package jobs

import (
	"context"

	"daisy/internal/catalog"
	"daisy/internal/device"
	"daisy/internal/device/devices"
	"daisy/internal/volume"
)

// noConfig reads volumes for the jobs that have no configuration at hand:
// by their reference alone (a vtape volume file's path).
var noConfig = devices.New(nil)

// openMedium mounts volume v of the catalog in mode, through devs (nil:
// by its reference alone).
func openMedium(ctx context.Context, devs *devices.Set, v catalog.Volume, mode device.Mode) (device.Medium, error) {
	if devs == nil {
		devs = noConfig
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
