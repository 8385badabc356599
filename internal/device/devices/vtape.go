package devices

import (
	"path/filepath"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/vtape"
)

// vtape: a pool's directory of volume files, with its volume capacity; a
// volume file path reads without the configuration.
func init() {
	Register(config.TypeVTape, func(p config.Pool, d config.Device) (device.Library, error) {
		return vtape.NewLibrary(vtape.LibraryOptions{Dir: p.Directory, Capacity: p.VolumeCapacity})
	})
	RegisterRef(func(ref device.VolumeRef) device.Library {
		if !filepath.IsAbs(ref) {
			return nil
		}
		lib, err := vtape.NewLibrary(vtape.LibraryOptions{Dir: filepath.Dir(ref)})
		if err != nil {
			return nil
		}
		return lib
	})
}
