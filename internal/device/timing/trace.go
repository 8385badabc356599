package timing

// Trace records a drive's rates over time in buckets: the bytes put on
// tape (or read) and the bytes the host gave, per bucket. It keeps at most
// MaxBuckets buckets: when the window outgrows them, neighbours merge and
// the buckets get twice as long. The zero value is not usable; see
// NewTrace.
type Trace struct {
	// Step is the length of a bucket, seconds.
	Step float64
	// Tape and Host hold the bytes per bucket, from the start of the
	// drive's window.
	Tape, Host []float64
}

// MaxBuckets bounds a Trace's memory.
const MaxBuckets = 4096

// NewTrace returns a trace whose buckets start step seconds long.
func NewTrace(step float64) *Trace { return &Trace{Step: step} }

// add spreads bytes evenly over [t0, t1] (seconds since the window's
// start; t0 == t1 puts them in one bucket).
func (tr *Trace) add(t0, t1, bytes float64, tape bool) {
	for t1 >= float64(MaxBuckets)*tr.Step {
		tr.coarsen()
	}
	series := &tr.Host
	if tape {
		series = &tr.Tape
	}
	put := func(i int, b float64) {
		for len(*series) <= i {
			*series = append(*series, 0)
		}
		(*series)[i] += b
	}
	if t1 <= t0 {
		put(int(t0/tr.Step), bytes)
		return
	}
	rate := bytes / (t1 - t0)
	for t := t0; t < t1; {
		i := int(t / tr.Step)
		end := min(t1, float64(i+1)*tr.Step)
		if end <= t { // rounding at a bucket's edge
			end = min(t1, t+tr.Step/1e6)
		}
		put(i, rate*(end-t))
		t = end
	}
}

func (tr *Trace) coarsen() {
	merge := func(s []float64) []float64 {
		out := make([]float64, (len(s)+1)/2, MaxBuckets)
		for i, v := range s {
			out[i/2] += v
		}
		return out
	}
	tr.Tape, tr.Host = merge(tr.Tape), merge(tr.Host)
	tr.Step *= 2
}
