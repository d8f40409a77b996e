package metrics

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExposition(t *testing.T) {
	r := New("coding", "math")
	r.ObserveRequest("/v1/route", 200, 3*time.Millisecond)
	r.ObserveRequest("/v1/route", 200, 30*time.Millisecond)
	r.ObserveRequest("/v1/route", 400, 200*time.Microsecond)
	r.ObserveRequest("/healthz", 503, 20*time.Second) // beyond the last bucket
	r.ObserveRoute("coding")
	r.ObserveRoute("coding")
	r.ObserveRoute(`we"ird\`)
	r.ObserveTruncated()
	r.ObserveTruncated()
	r.ObserveExtProc("request_headers", 100*time.Microsecond)
	r.ObserveExtProc("request_body", 20*time.Millisecond)
	r.ObserveExtProc("request_body", 2*time.Millisecond)
	r.ObserveImmediate(400)
	r.ObserveImmediate(400)
	r.ObserveImmediate(503)

	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	t.Log("\n" + text)
	e, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{
		"router_requests_total":           "counter",
		"router_request_duration_seconds": "histogram",
		"router_routes_total":             "counter",
		"router_prompts_truncated_total":  "counter",

		"router_extproc_requests_total":            "counter",
		"router_extproc_duration_seconds":          "histogram",
		"router_extproc_immediate_responses_total": "counter",
	} {
		if e.Type[name] != typ {
			t.Errorf("TYPE %s = %q, want %q", name, e.Type[name], typ)
		}
		if e.Help[name] == "" {
			t.Errorf("no HELP for %s", name)
		}
	}
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"router_requests_total", map[string]string{"route": "/v1/route", "status": "200"}, 2},
		{"router_requests_total", map[string]string{"route": "/v1/route", "status": "400"}, 1},
		{"router_requests_total", map[string]string{"route": "/healthz", "status": "503"}, 1},
		{"router_request_duration_seconds_count", map[string]string{"route": "/v1/route"}, 3},
		{"router_request_duration_seconds_bucket", map[string]string{"route": "/v1/route", "le": "0.001"}, 1},
		{"router_request_duration_seconds_bucket", map[string]string{"route": "/v1/route", "le": "0.005"}, 2},
		{"router_request_duration_seconds_bucket", map[string]string{"route": "/v1/route", "le": "0.05"}, 3},
		{"router_request_duration_seconds_bucket", map[string]string{"route": "/v1/route", "le": "+Inf"}, 3},
		{"router_request_duration_seconds_bucket", map[string]string{"route": "/healthz", "le": "10"}, 0},
		{"router_request_duration_seconds_bucket", map[string]string{"route": "/healthz", "le": "+Inf"}, 1},
		{"router_request_duration_seconds_sum", map[string]string{"route": "/healthz"}, 20},
		{"router_routes_total", map[string]string{"category": "coding"}, 2},
		{"router_routes_total", map[string]string{"category": "math"}, 0},
		{"router_routes_total", map[string]string{"category": `we"ird\`}, 1},
		{"router_prompts_truncated_total", nil, 2},
		{"router_extproc_requests_total", map[string]string{"phase": "request_headers"}, 1},
		{"router_extproc_requests_total", map[string]string{"phase": "request_body"}, 2},
		{"router_extproc_duration_seconds_bucket", map[string]string{"phase": "request_body", "le": "0.001"}, 0},
		{"router_extproc_duration_seconds_bucket", map[string]string{"phase": "request_body", "le": "0.0025"}, 1},
		{"router_extproc_duration_seconds_bucket", map[string]string{"phase": "request_body", "le": "0.025"}, 2},
		{"router_extproc_duration_seconds_bucket", map[string]string{"phase": "request_body", "le": "+Inf"}, 2},
		{"router_extproc_duration_seconds_count", map[string]string{"phase": "request_body"}, 2},
		{"router_extproc_duration_seconds_count", map[string]string{"phase": "request_headers"}, 1},
		{"router_extproc_duration_seconds_bucket", map[string]string{"phase": "request_headers", "le": "0.001"}, 1},
		{"router_extproc_immediate_responses_total", map[string]string{"status": "400"}, 2},
		{"router_extproc_immediate_responses_total", map[string]string{"status": "503"}, 1},
	}
	for _, w := range want {
		got, ok := e.Value(w.name, w.labels)
		if !ok {
			t.Errorf("missing %s", SeriesKey(w.name, w.labels))
			continue
		}
		if got != w.value {
			t.Errorf("%s = %v, want %v", SeriesKey(w.name, w.labels), got, w.value)
		}
	}
	sum, _ := e.Value("router_request_duration_seconds_sum", map[string]string{"route": "/v1/route"})
	if sum < 0.0331 || sum > 0.0333 {
		t.Errorf("sum %v, want 0.0332", sum)
	}
	sum, _ = e.Value("router_extproc_duration_seconds_sum", map[string]string{"phase": "request_body"})
	if sum < 0.0219 || sum > 0.0221 {
		t.Errorf("extproc request_body sum %v, want 0.022", sum)
	}
	// Phases that were never seen have no series.
	if _, ok := e.Value("router_extproc_requests_total", map[string]string{"phase": "response_headers"}); ok {
		t.Error("router_extproc_requests_total has a series for a phase never seen")
	}
	// Buckets are cumulative and non-decreasing.
	var prev float64 = -1
	for _, s := range e.Samples {
		if s.Name == "router_request_duration_seconds_bucket" && s.Labels["route"] == "/v1/route" {
			if s.Value < prev {
				t.Errorf("bucket le=%s decreases", s.Labels["le"])
			}
			prev = s.Value
		}
	}
}

func TestEmptyRegistry(t *testing.T) {
	var buf bytes.Buffer
	if _, err := New().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	e, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// Only the unlabelled counter, at 0.
	if len(e.Samples) != 1 || len(e.Type) != 7 {
		t.Fatalf("got %d samples, %d types", len(e.Samples), len(e.Type))
	}
	if v, ok := e.Value("router_prompts_truncated_total", nil); !ok || v != 0 {
		t.Fatalf("router_prompts_truncated_total = %v (present: %v), want 0", v, ok)
	}
}

func TestConcurrent(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				r.ObserveRequest("/v1/route", 200, time.Millisecond)
				r.ObserveRoute("x")
				r.ObserveExtProc("request_body", time.Millisecond)
				r.ObserveImmediate(503)
				var buf bytes.Buffer
				_, _ = r.WriteTo(&buf)
			}
		}()
	}
	wg.Wait()
	var buf bytes.Buffer
	_, _ = r.WriteTo(&buf)
	e, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Value("router_requests_total", map[string]string{"route": "/v1/route", "status": "200"}); v != 800 {
		t.Fatalf("requests %v, want 800", v)
	}
	if v, _ := e.Value("router_routes_total", map[string]string{"category": "x"}); v != 800 {
		t.Fatalf("routes %v, want 800", v)
	}
	if v, _ := e.Value("router_extproc_requests_total", map[string]string{"phase": "request_body"}); v != 800 {
		t.Fatalf("extproc requests %v, want 800", v)
	}
	if v, _ := e.Value("router_extproc_immediate_responses_total", map[string]string{"status": "503"}); v != 800 {
		t.Fatalf("immediate responses %v, want 800", v)
	}
}

func TestSnapshot(t *testing.T) {
	r := New("coding", "math")
	r.ObserveRequest("/v1/route", 400, time.Millisecond)
	r.ObserveRequest("/healthz", 200, time.Millisecond)
	r.ObserveRequest("/v1/route", 200, time.Millisecond)
	r.ObserveRequest("/v1/route", 200, time.Millisecond)
	r.ObserveRoute("coding")
	s := r.Snapshot()
	want := []RequestCount{{"/healthz", 200, 1}, {"/v1/route", 200, 2}, {"/v1/route", 400, 1}}
	if len(s.Requests) != len(want) {
		t.Fatalf("requests %+v, want %+v", s.Requests, want)
	}
	for i := range want {
		if s.Requests[i] != want[i] {
			t.Fatalf("requests %+v, want %+v", s.Requests, want)
		}
	}
	if len(s.Routes) != 2 || s.Routes["coding"] != 1 || s.Routes["math"] != 0 {
		t.Fatalf("routes %v", s.Routes)
	}
	// A snapshot is a copy: later observations do not change it.
	r.ObserveRoute("coding")
	r.ObserveRequest("/healthz", 200, time.Millisecond)
	if s.Routes["coding"] != 1 || s.Requests[0].Count != 1 {
		t.Fatalf("snapshot changed: %+v", s)
	}
	if r.Snapshot().Routes["coding"] != 2 {
		t.Fatal("second snapshot does not see the new route")
	}
}
