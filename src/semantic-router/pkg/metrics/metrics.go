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
}

// New returns an empty registry; categories, if given, are exported at 0
// in router_routes_total before their first request.
func New(categories ...string) *Registry {
	r := &Registry{
		buckets:   DefaultBuckets,
		requests:  make(map[requestKey]uint64),
		durations: make(map[string]*histogram),
		routes:    make(map[string]uint64),
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
	h := r.durations[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(r.buckets))}
		r.durations[route] = h
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
	routes := make([]string, 0, len(r.durations))
	for k := range r.durations {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	for _, route := range routes {
		h := r.durations[route]
		lv := escape(route)
		var cum uint64
		for i, ub := range r.buckets {
			cum += h.counts[i]
			w.printf("router_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %d\n", lv, formatFloat(ub), cum)
		}
		w.printf("router_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %d\n", lv, h.count)
		w.printf("router_request_duration_seconds_sum{route=\"%s\"} %s\n", lv, formatFloat(h.sum))
		w.printf("router_request_duration_seconds_count{route=\"%s\"} %d\n", lv, h.count)
	}

	w.printf("# HELP router_routes_total Prompts routed, by category.\n")
	w.printf("# TYPE router_routes_total counter\n")
	cats := make([]string, 0, len(r.routes))
	for k := range r.routes {
		cats = append(cats, k)
	}
	sort.Strings(cats)
	for _, c := range cats {
		w.printf("router_routes_total{category=\"%s\"} %d\n", escape(c), r.routes[c])
	}

	w.printf("# HELP router_prompts_truncated_total Prompts longer than the model's token limit, of which only the beginning was embedded.\n")
	w.printf("# TYPE router_prompts_truncated_total counter\n")
	w.printf("router_prompts_truncated_total %d\n", r.truncated)
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
