package devices

import (
	"path/filepath"
	"strings"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/vtape"
)

// vtape: a pool's directory of volume files, with its volume capacity; a
// volume file's path (absolute or relative, not a URL) reads without the
// configuration.
func init() {
	Register(config.TypeVTape, func(p config.Pool, d config.Device) (device.Library, error) {
		return vtape.NewLibrary(vtape.LibraryOptions{Dir: p.Directory, Capacity: p.VolumeCapacity})
	})
	RegisterRef(func(ref device.VolumeRef) device.Library {
		if ref == "" || strings.Contains(ref, "://") {
			return nil
		}
		abs, err := filepath.Abs(ref)
		if err != nil {
			return nil
		}
		lib, err := vtape.NewLibrary(vtape.LibraryOptions{Dir: filepath.Dir(abs)})
		if err != nil {
			return nil
		}
		return lib
	})
}
