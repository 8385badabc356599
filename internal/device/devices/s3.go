package devices

import (
	"errors"

	"daisy/internal/config"
	"daisy/internal/device"
	"daisy/internal/device/s3"
)

// s3: a bucket prefix of a server, with the pool's volume capacity and
// part size; the credentials come from the environment or the pool's
// credentials file. A volume's reference is its label, which says nothing
// of the bucket: there is no way to read one without its pool.
func init() {
	Register(config.TypeS3, func(p config.Pool, d config.Device) (device.Library, error) {
		if p.S3 == nil {
			return nil, errors.New("type s3 without its settings (endpoint, bucket)")
		}
		return s3.New(s3.Options{
			Endpoint:        p.S3.Endpoint,
			CAFile:          p.S3.CAFile,
			Bucket:          p.S3.Bucket,
			Prefix:          p.S3.Prefix,
			Region:          p.S3.Region,
			CredentialsFile: p.S3.CredentialsFile,
			Profile:         p.S3.Profile,
			PartSize:        p.S3.PartSize,
			Capacity:        p.VolumeCapacity,
		})
	})
}
