// Package metrics keeps the router's counters and histograms and writes
// them in the Prometheus text exposition format (version 0.0.4).
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ContentType is the media type of the exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// DefaultBuckets are the upper bounds (seconds) of the request duration
// histogram.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type requestKey struct{ route, status string }

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

// Registry holds the router metrics. The zero value is not usable: use New.
type Registry struct {
	mu        sync.Mutex
	buckets   []float64
	requests  map[requestKey]uint64
	durations map[string]*histogram
	routes    map[string]uint64
	truncated uint64

	// ExtProc (gRPC): messages and their durations by phase, immediate
	// responses by status code.
	extprocDurations map[string]*histogram
	immediate        map[string]uint64
}

// New returns an empty registry; categories, if given, are exported at 0
// in router_routes_total before their first request.
func New(categories ...string) *Registry {
	r := &Registry{
		buckets:   DefaultBuckets,
		requests:  make(map[requestKey]uint64),
		durations: make(map[string]*histogram),
		routes:    make(map[string]uint64),

		extprocDurations: make(map[string]*histogram),
		immediate:        make(map[string]uint64),
	}
	for _, c := range categories {
		r.routes[c] = 0
	}
	return r
}

// AddCategories exports categories at 0 if not yet present.
func (r *Registry) AddCategories(categories ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range categories {
		if _, ok := r.routes[c]; !ok {
			r.routes[c] = 0
		}
	}
}

// ObserveRequest counts one HTTP request on route with status code and
// records its duration.
func (r *Registry) ObserveRequest(route string, status int, d time.Duration) {
	secs := d.Seconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[requestKey{route, strconv.Itoa(status)}]++
	r.observe(r.durations, route, secs)
}

// ObserveExtProc counts one ExtProc message of a phase ("request_headers",
// "request_body", ...) and records the time taken to answer it.
func (r *Registry) ObserveExtProc(phase string, d time.Duration) {
	secs := d.Seconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observe(r.extprocDurations, phase, secs)
}

// ObserveImmediate counts one ExtProc immediate response with an HTTP
// status code.
func (r *Registry) ObserveImmediate(status int) {
	r.mu.Lock()
	r.immediate[strconv.Itoa(status)]++
	r.mu.Unlock()
}

// observe adds secs to the histogram hs[key], created on first use. The
// caller holds r.mu.
func (r *Registry) observe(hs map[string]*histogram, key string, secs float64) {
	h := hs[key]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(r.buckets))}
		hs[key] = h
	}
	for i, ub := range r.buckets {
		if secs <= ub {
			h.counts[i]++
			break
		}
	}
	h.sum += secs
	h.count++
}

// ObserveRoute counts one prompt routed to category.
func (r *Registry) ObserveRoute(category string) {
	r.mu.Lock()
	r.routes[category]++
	r.mu.Unlock()
}

// ObserveTruncated counts one prompt cut to the model's token limit.
func (r *Registry) ObserveTruncated() {
	r.mu.Lock()
	r.truncated++
	r.mu.Unlock()
}

// RequestCount is the number of HTTP requests on a route with a status code.
type RequestCount struct {
	Route  string
	Status int
	Count  uint64
}

// Snapshot is a consistent copy of the counters.
type Snapshot struct {
	// Requests are sorted by route, then status.
	Requests []RequestCount
	// Routes are the prompts routed, by category.
	Routes map[string]uint64
	// Truncated is the number of prompts cut to the model's token limit.
	Truncated uint64
}

// Snapshot returns a copy of the request and route counters.
func (r *Registry) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{
		Requests:  make([]RequestCount, 0, len(r.requests)),
		Routes:    make(map[string]uint64, len(r.routes)),
		Truncated: r.truncated,
	}
	for _, k := range r.requestKeys() {
		status, _ := strconv.Atoi(k.status)
		s.Requests = append(s.Requests, RequestCount{Route: k.route, Status: status, Count: r.requests[k]})
	}
	for c, n := range r.routes {
		s.Routes[c] = n
	}
	return s
}

// requestKeys are the request counters' keys, by route then status (status
// codes have three digits: their text order is their numeric order). The
// caller holds r.mu.
func (r *Registry) requestKeys() []requestKey {
	keys := make([]requestKey, 0, len(r.requests))
	for k := range r.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].status < keys[j].status
	})
	return keys
}

// WriteTo writes all metrics in the text exposition format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	cw := &countingWriter{w: bw}
	r.mu.Lock()
	r.write(cw)
	r.mu.Unlock()
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, cw.err
}

func (r *Registry) write(w *countingWriter) {
	w.printf("# HELP router_requests_total Total HTTP requests by route and status code.\n")
	w.printf("# TYPE router_requests_total counter\n")
	for _, k := range r.requestKeys() {
		w.printf("router_requests_total{route=\"%s\",status=\"%s\"} %d\n", escape(k.route), escape(k.status), r.requests[k])
	}

	w.printf("# HELP router_request_duration_seconds HTTP request duration in seconds by route.\n")
	w.printf("# TYPE router_request_duration_seconds histogram\n")
	r.writeHistograms(w, "router_request_duration_seconds", "route", r.durations)

	writeCounters(w, "router_routes_total", "Prompts routed, by category.", "category", r.routes)

	w.printf("# HELP router_prompts_truncated_total Prompts longer than the model's token limit, of which only the beginning was embedded.\n")
	w.printf("# TYPE router_prompts_truncated_total counter\n")
	w.printf("router_prompts_truncated_total %d\n", r.truncated)

	answered := make(map[string]uint64, len(r.extprocDurations))
	for phase, h := range r.extprocDurations {
		answered[phase] = h.count
	}
	writeCounters(w, "router_extproc_requests_total", "ExtProc messages answered, by phase.", "phase", answered)

	w.printf("# HELP router_extproc_duration_seconds Time to answer an ExtProc message in seconds, by phase.\n")
	w.printf("# TYPE router_extproc_duration_seconds histogram\n")
	r.writeHistograms(w, "router_extproc_duration_seconds", "phase", r.extprocDurations)

	writeCounters(w, "router_extproc_immediate_responses_total",
		"ExtProc immediate responses (requests answered by the router instead of the upstream), by HTTP status code.",
		"status", r.immediate)
}

// writeCounters writes the counter family name, one series per key of
// values, labelled label="key", in key order.
func writeCounters(w *countingWriter, name, help, label string, values map[string]uint64) {
	w.printf("# HELP %s %s\n", name, help)
	w.printf("# TYPE %s counter\n", name)
	for _, k := range sortedKeys(values) {
		w.printf("%s{%s=\"%s\"} %d\n", name, label, escape(k), values[k])
	}
}

// writeHistograms writes the series of the histogram family name, one per
// key of hs, labelled label="key".
func (r *Registry) writeHistograms(w *countingWriter, name, label string, hs map[string]*histogram) {
	for _, key := range sortedKeys(hs) {
		h := hs[key]
		lv := escape(key)
		var cum uint64
		for i, ub := range r.buckets {
			cum += h.counts[i]
			w.printf("%s_bucket{%s=\"%s\",le=\"%s\"} %d\n", name, label, lv, formatFloat(ub), cum)
		}
		w.printf("%s_bucket{%s=\"%s\",le=\"+Inf\"} %d\n", name, label, lv, h.count)
		w.printf("%s_sum{%s=\"%s\"} %s\n", name, label, lv, formatFloat(h.sum))
		w.printf("%s_count{%s=\"%s\"} %d\n", name, label, lv, h.count)
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// escape escapes a label value.
func escape(s string) string { return labelEscaper.Replace(s) }

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) printf(format string, args ...interface{}) {
	if c.err != nil {
		return
	}
	n, err := fmt.Fprintf(c.w, format, args...)
	c.n += int64(n)
	c.err = err
}
