package api

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"daisy/internal/jobs"
)

// metrics is the API's Prometheus registry and what its collector adds up.
// The totals of ended jobs are under the table's mutex.
type metrics struct {
	a   *API
	reg *prometheus.Registry

	devBytes  map[devKey]float64 // written by the ended jobs
	devRecs   map[devKey]float64 // records written by the ended jobs
	devErrors map[string]float64 // copies failed, by device
	jobsTotal *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

type devKey struct {
	agent, device, host string
	copy                int
}

var (
	descDeviceBytes  = prometheus.NewDesc("daisy_device_written_bytes_total", "Bytes the media agent wrote with its device (block payload), by the jobs of this server; rises during a backup.", []string{"media_agent", "device", "host", "copy"}, nil)
	descCopyBytes    = prometheus.NewDesc("daisy_copy_written_bytes_total", "Bytes written for copy number copy (all media agents of that copy).", []string{"copy"}, nil)
	descDeviceRecs   = prometheus.NewDesc("daisy_device_records_total", "Records of objects the media agent wrote with its device, by the jobs of this server; rises during a backup.", []string{"media_agent", "device", "host", "copy"}, nil)
	descCopyRecs     = prometheus.NewDesc("daisy_copy_records_total", "Records written for copy number copy (all media agents of that copy).", []string{"copy"}, nil)
	descBufferUsed   = prometheus.NewDesc("daisy_buffer_used_bytes", "Memory the records held in the buffer take now (0 when no job uses it).", []string{"buffer", "host"}, nil)
	descBufferCap    = prometheus.NewDesc("daisy_buffer_capacity_bytes", "Configured size of the buffer.", []string{"buffer", "host"}, nil)
	descDeviceErrors = prometheus.NewDesc("daisy_device_errors_total", "Copies that failed on the device (backup jobs of this server).", []string{"device"}, nil)
	descJobRunning   = prometheus.NewDesc("daisy_job_running", "Jobs of this kind running now.", []string{"kind"}, nil)
	descAgentConns   = prometheus.NewDesc("daisy_agent_connections", "1 when the server is connected to the host's agent (role client) or media agent (role media-host), else 0.", []string{"role", "host"}, nil)
)

func newMetrics(a *API) *metrics {
	m := &metrics{
		a: a, reg: prometheus.NewRegistry(),
		devBytes: map[devKey]float64{}, devRecs: map[devKey]float64{}, devErrors: map[string]float64{},
		jobsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "daisy_jobs_total", Help: "Jobs the API ran, by kind and the state they ended in."}, []string{"kind", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "daisy_job_duration_seconds", Help: "Duration of the jobs the API ran, by kind (refused jobs left out).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 s to about 3 days
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m, m.jobsTotal, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ended adds what an ended job did to the totals; under the table's mutex.
func (m *metrics) ended(j *job, final Snapshot) {
	for _, d := range final.Devices {
		k := devKey{d.MediaAgent, d.Device, d.Host, d.Copy}
		m.devBytes[k] += float64(d.Bytes)
		m.devRecs[k] += float64(d.Records)
	}
	if res, ok := j.result.(*jobs.BackupResult); ok {
		for _, o := range res.Objects {
			for _, c := range o.Copies {
				if c.State == jobs.CopyFailed {
					m.devErrors[c.Device]++
				}
			}
		}
	}
	m.jobsTotal.WithLabelValues(j.req.Kind, j.state).Inc()
	if j.state != StateRefused { // it did not run
		m.duration.WithLabelValues(j.req.Kind).Observe(j.finished.Sub(j.started).Seconds())
	}
}

// Describe sends the descriptions of the collector's own metrics.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDeviceBytes, descCopyBytes, descDeviceRecs, descCopyRecs, descBufferUsed, descBufferCap, descDeviceErrors, descJobRunning, descAgentConns} {
		ch <- d
	}
}

// Collect sends the device and copy (bytes, records), buffer, running and
// connection metrics: the totals of ended jobs plus the live snapshots of
// running ones.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	cfg := m.a.opts.Config()
	t := m.a.table
	dev, recs := map[devKey]float64{}, map[devKey]float64{}
	used := map[string]float64{}
	running := map[string]float64{KindBackup: 0, KindRestore: 0, KindCopy: 0, KindVerify: 0, KindPrune: 0}
	t.mu.Lock()
	for k, v := range m.devBytes {
		dev[k] = v
	}
	for k, v := range m.devRecs {
		recs[k] = v
	}
	errs := make(map[string]float64, len(m.devErrors))
	for k, v := range m.devErrors {
		errs[k] = v
	}
	for _, j := range t.jobs {
		if j.finished.IsZero() {
			running[j.req.Kind]++
		}
	}
	t.eachRunning(func(j *job, s Snapshot) {
		for _, d := range s.Devices {
			k := devKey{d.MediaAgent, d.Device, d.Host, d.Copy}
			dev[k] += float64(d.Bytes)
			recs[k] += float64(d.Records)
		}
		for _, b := range s.Buffers {
			used[b.Buffer] += float64(b.Used)
		}
	})
	t.mu.Unlock()

	copies := map[int]float64{}
	for k, v := range dev {
		ch <- prometheus.MustNewConstMetric(descDeviceBytes, prometheus.CounterValue, v, k.agent, k.device, k.host, strconv.Itoa(k.copy))
		copies[k.copy] += v
	}
	for c, v := range copies {
		ch <- prometheus.MustNewConstMetric(descCopyBytes, prometheus.CounterValue, v, strconv.Itoa(c))
	}
	copyRecs := map[int]float64{}
	for k, v := range recs {
		ch <- prometheus.MustNewConstMetric(descDeviceRecs, prometheus.CounterValue, v, k.agent, k.device, k.host, strconv.Itoa(k.copy))
		copyRecs[k.copy] += v
	}
	for c, v := range copyRecs {
		ch <- prometheus.MustNewConstMetric(descCopyRecs, prometheus.CounterValue, v, strconv.Itoa(c))
	}
	for _, ma := range cfg.MediaAgents() {
		host := deviceHost(cfg, ma.Device)
		for _, b := range ma.Buffers {
			id := b.ID(ma.Name)
			ch <- prometheus.MustNewConstMetric(descBufferCap, prometheus.GaugeValue, float64(b.Size), id, host)
			ch <- prometheus.MustNewConstMetric(descBufferUsed, prometheus.GaugeValue, used[id], id, host)
		}
	}
	for d, v := range errs {
		ch <- prometheus.MustNewConstMetric(descDeviceErrors, prometheus.CounterValue, v, d)
	}
	for k, v := range running {
		ch <- prometheus.MustNewConstMetric(descJobRunning, prometheus.GaugeValue, v, k)
	}
	if m.a.opts.Fleet != nil {
		for _, h := range m.a.opts.Fleet.Hosts() {
			v := 0.0
			if h.Connected {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descAgentConns, prometheus.GaugeValue, v, h.Role, h.Name)
		}
	}
}
