package sandbox

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"time"
)

// LimitOptions configures API latency and throttling. The zero value adds no
// latency and never throttles.
type LimitOptions struct {
	// Latency is how long after its arrival every API answer leaves (a
	// stand-in for round trip plus server time; the emulator's own work
	// happens within it unless it takes longer). RegionLatency overrides it
	// per region.
	Latency       time.Duration
	RegionLatency map[string]time.Duration
	// MinLatency is the floor of every call's latency; 0 or negative means
	// none, so a call with no Latency is answered at once.
	MinLatency time.Duration

	// Throttle enables token buckets per account, region and bucket class.
	// A call that finds its bucket empty gets the service's real throttling
	// error: SSM 400 ThrottlingException, EC2 503 RequestLimitExceeded,
	// STS/IAM 400 Throttling.
	Throttle bool
	// Bucket sizes and refill rates; a zero Bucket takes the default noted.
	SSM           Bucket // SSM calls; default 20 tokens, 5/s (AWS does not publish it)
	EC2           Bucket // EC2 non-mutating calls, filtered or paginated; default 100, 20/s
	EC2Unfiltered Bucket // unfiltered and unpaginated DescribeInstances; default 50, 10/s
	Query         Bucket // STS and IAM; default 100, 20/s
}

// Bucket is a token bucket: Size tokens, refilled at Refill tokens per second.
type Bucket struct {
	Size   int
	Refill float64
}

func (b Bucket) or(def Bucket) Bucket {
	if b.Size <= 0 {
		return def
	}
	return b
}

// APIStats counts API calls seen by the sandbox, keyed by "service.Op".
type APIStats struct {
	Calls     map[string]int // every call that reached admission
	Throttled map[string]int // calls answered with a throttling error
	Retries   int            // calls whose Amz-Sdk-Request header says attempt > 1
}

// limiter implements LimitOptions as the apiServer's admit hook.
type limiter struct {
	opts LimitOptions
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[bucketKey]*bucketState
	calls     map[string]int
	throttled map[string]int
	retries   int
}

type bucketKey struct{ account, region, class string }

type bucketState struct {
	tokens float64
	last   time.Time
}

func newLimiter(opts LimitOptions, now func() time.Time) *limiter {
	return &limiter{
		opts: opts, now: now,
		buckets: map[bucketKey]*bucketState{}, calls: map[string]int{}, throttled: map[string]int{},
	}
}

// pace sets when the call's answer, whatever it is, may leave: the
// configured latency after its arrival. The emulator's own work happens
// inside that time, as a real service's does inside its latency.
func (l *limiter) pace(r *APIRequest) {
	if d := l.latency(r.Region); d > 0 {
		start := r.arrived
		if start.IsZero() {
			start = time.Now()
		}
		r.NotBefore = start.Add(d)
	}
}

// admit counts the call and takes a token from the call's bucket.
func (l *limiter) admit(r *APIRequest) error {
	key := r.Service + "." + r.Op
	l.mu.Lock()
	l.calls[key]++
	if a := r.HTTP.Header.Get("Amz-Sdk-Request"); a != "" && !hasPrefix(a, "attempt=1;") {
		l.retries++
	}
	l.mu.Unlock()

	if !l.opts.Throttle {
		return nil
	}
	class, b := l.bucketFor(r)
	acct := ""
	if r.Account != nil {
		acct = r.Account.ID
	}
	if l.take(bucketKey{acct, r.Region, class}, b) {
		return nil
	}
	l.mu.Lock()
	l.throttled[key]++
	l.mu.Unlock()
	return throttleError(r.Service)
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func (l *limiter) latency(region string) time.Duration {
	d := l.opts.Latency
	if rd, ok := l.opts.RegionLatency[region]; ok {
		d = rd
	}
	return max(d, l.opts.MinLatency)
}

// bucketFor classifies a call the way AWS documents its buckets.
func (l *limiter) bucketFor(r *APIRequest) (string, Bucket) {
	switch r.Service {
	case "ssm":
		return "ssm", l.opts.SSM.or(Bucket{Size: 20, Refill: 5})
	case "ec2":
		if (r.Op == "DescribeInstances" || r.Op == "DescribeSecurityGroups") && !filteredOrPaginated(r) {
			return "ec2-unfiltered", l.opts.EC2Unfiltered.or(Bucket{Size: 50, Refill: 10})
		}
		return "ec2", l.opts.EC2.or(Bucket{Size: 100, Refill: 20})
	default:
		return r.Service, l.opts.Query.or(Bucket{Size: 100, Refill: 20})
	}
}

// filteredOrPaginated reports whether an EC2 query call carries MaxResults,
// NextToken or a Filter: AWS then charges the non-mutating bucket.
func filteredOrPaginated(r *APIRequest) bool {
	if r.Form.Get("MaxResults") != "" || r.Form.Get("NextToken") != "" {
		return true
	}
	for k := range r.Form {
		if hasPrefix(k, "Filter.") {
			return true
		}
	}
	return false
}

func (l *limiter) take(k bucketKey, b Bucket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st, ok := l.buckets[k]
	if !ok {
		st = &bucketState{tokens: float64(b.Size), last: now}
		l.buckets[k] = st
	}
	st.tokens += now.Sub(st.last).Seconds() * b.Refill
	if st.tokens > float64(b.Size) {
		st.tokens = float64(b.Size)
	}
	st.last = now
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

// stats returns a copy of the counters.
func (l *limiter) stats() APIStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return APIStats{Calls: maps.Clone(l.calls), Throttled: maps.Clone(l.throttled), Retries: l.retries}
}

// throttleError is the error each protocol family sends when throttled.
func throttleError(service string) *APIError {
	switch service {
	case "ec2":
		return &APIError{Status: http.StatusServiceUnavailable, Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
	case "sts", "iam":
		return &APIError{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"}
	default:
		return &APIError{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the API call counters: calls and throttles per operation and
// SDK retries seen (from the Amz-Sdk-Request header).
func (s *Sandbox) Stats() APIStats { return s.api.limits.stats() }
