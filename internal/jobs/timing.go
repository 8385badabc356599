package jobs

import (
	"context"

	"daisy/internal/config"
	"daisy/internal/device/timing"
	"daisy/internal/mediaagent"
)

// DeviceTiming is what the timing model of a device ("timing:" in
// daisy.yaml) says a tape drive would have done with the blocks the job
// gave it, at the times it gave them: whether it streamed, how often it
// backhitched (internal/device/timing).
type DeviceTiming struct {
	Device     string `json:"device"`
	MediaAgent string `json:"media_agent"`
	timing.Stats
}

// timedDevice is the model of one device during a job.
type timedDevice struct {
	device, agent string
	rec           *timing.Recorder
}

// timedVolumes mounts every volume of a device on its timing model.
type timedVolumes struct {
	mediaagent.VolumeSource
	rec *timing.Recorder
}

func (t *timedVolumes) Next(ctx context.Context) (mediaagent.Mount, error) {
	m, err := t.VolumeSource.Next(ctx)
	if err == nil {
		m.Medium = t.rec.Wrap(m.Medium)
	}
	return m, err
}

// withTiming puts vs on the device's timing model if it has one, and
// keeps the model for the job's result.
func withTiming(vs mediaagent.VolumeSource, ma config.MediaAgent, dev config.Device, models *[]timedDevice) mediaagent.VolumeSource {
	if dev.Timing == nil {
		return vs
	}
	rec := timing.NewRecorder(timing.Params(*dev.Timing))
	*models = append(*models, timedDevice{device: dev.Name, agent: ma.Name, rec: rec})
	return &timedVolumes{VolumeSource: vs, rec: rec}
}

func deviceTimings(models []timedDevice) []DeviceTiming {
	var out []DeviceTiming
	for _, m := range models {
		out = append(out, DeviceTiming{Device: m.device, MediaAgent: m.agent, Stats: m.rec.Stats()})
	}
	return out
}
