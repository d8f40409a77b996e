package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/limit"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
)

func TestRouteRequiresJSONContentType(t *testing.T) {
	s, _ := newServer(t)
	h := s.Handler()
	for ct, want := range map[string]int{
		"":                                  415,
		"text/plain":                        415,
		"text/plain; charset=utf-8":         415,
		"application/x-www-form-urlencoded": 415,
		"multipart/form-data; boundary=x":   415,
		"application/jsonx":                 415,
		"application/json; charset=latin1":  415,
		"application/json; charset":         415, // not a valid media type
		"application/json":                  200,
		"application/json; charset=utf-8":   200,
		"Application/JSON; Charset=UTF-8":   200,
		"application/json;charset=utf8":     200,
	} {
		r := doWith(h, "POST", PathRoute, ct, routeJSON("How do I sort a list in Python?"))
		if r.status != want {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, r.status, r.body, want)
			continue
		}
		if want == 415 && !strings.Contains(string(r.body), "Content-Type must be application/json") {
			t.Errorf("Content-Type %q: body %s", ct, r.body)
		}
	}
	// Before the model is loaded too: the media type is checked first.
	loading := New(metrics.New(), quietLogs)
	if r := doWith(loading.Handler(), "POST", PathRoute, "text/plain", routeJSON("x")); r.status != 415 {
		t.Fatalf("while loading: %d %s", r.status, r.body)
	}
}

// blockingRouter routes after release is closed, saying when a call starts.
type blockingRouter struct {
	started chan string
	release chan struct{}
}

func newBlockingRouter() *blockingRouter {
	return &blockingRouter{started: make(chan string, 16), release: make(chan struct{})}
}

func (b *blockingRouter) Route(prompt string) (router.Result, error) {
	b.started <- prompt
	<-b.release
	return router.Result{Category: "c", Model: "m", Score: 0.5}, nil
}

// serveAsync runs one route request in the background; its response arrives on the channel.
func serveAsync(h http.Handler, prompt string) <-chan response {
	out := make(chan response, 1)
	go func() { out <- do(h, "POST", PathRoute, routeJSON(prompt)) }()
	return out
}

func busyServer(t *testing.T, slots, queue int) (*Server, *blockingRouter, *limit.Limiter) {
	t.Helper()
	s := New(metrics.New(), quietLogs)
	l := limit.New(limit.Options{Concurrency: slots, Queue: queue})
	s.SetLimiter(l)
	b := newBlockingRouter()
	s.SetRouter(b)
	return s, b, l
}

func expectBusy(t *testing.T, r response) {
	t.Helper()
	if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(string(r.body), "busy") {
		t.Fatalf("want 503 busy with Retry-After 1, got %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	var e map[string]string
	if err := json.Unmarshal(r.body, &e); err != nil || e["error"] == "" {
		t.Fatalf("503 body %s is not {\"error\": ...}", r.body)
	}
}

func TestSaturationAnswers503WithRetryAfter(t *testing.T) {
	s, b, _ := busyServer(t, 1, 0)
	h := s.Handler()
	first := serveAsync(h, "first")
	if p := <-b.started; p != "first" {
		t.Fatalf("started %q", p)
	}
	// The only slot is taken and there is no queue.
	expectBusy(t, do(h, "POST", PathRoute, routeJSON("second")))
	close(b.release)
	if r := <-first; r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	// Free again.
	if r := do(h, "POST", PathRoute, routeJSON("third")); r.status != 200 {
		t.Fatalf("after the burst: %d %s", r.status, r.body)
	}
	e := scrape(t, h)
	for status, want := range map[string]float64{"200": 2, "503": 1} {
		if v, _ := e.Value("router_requests_total", map[string]string{"route": PathRoute, "status": status}); v != want {
			t.Errorf("%s counted %v, want %v", status, v, want)
		}
	}
}

func TestQueueHoldsRequestsUntilASlotIsFree(t *testing.T) {
	s, b, l := busyServer(t, 1, 1)
	h := s.Handler()
	first := serveAsync(h, "first")
	<-b.started
	second := serveAsync(h, "second") // queued
	waitUntil(t, func() bool { return l.Stats() == limit.Stats{Running: 1, Waiting: 1} })
	expectBusy(t, do(h, "POST", PathRoute, routeJSON("third")))
	select {
	case p := <-b.started:
		t.Fatalf("%q started while the slot was taken", p)
	default:
	}
	close(b.release)
	for i, c := range []<-chan response{first, second} {
		if r := <-c; r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if p := <-b.started; p != "second" {
		t.Fatalf("queued request ran as %q", p)
	}
}

func TestQueuedRequestGivesUpAfterMaxWait(t *testing.T) {
	s := New(metrics.New(), quietLogs)
	s.SetLimiter(limit.New(limit.Options{Concurrency: 1, Queue: 1, MaxWait: 50 * time.Millisecond}))
	b := newBlockingRouter()
	s.SetRouter(b)
	h := s.Handler()
	first := serveAsync(h, "first")
	<-b.started
	r := do(h, "POST", PathRoute, routeJSON("second"))
	expectBusy(t, r)
	if !strings.Contains(string(r.body), "within 50ms") {
		t.Fatalf("body %s", r.body)
	}
	close(b.release)
	if r := <-first; r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
}

func TestQueuedRequestWhoseClientLeftIsNotRun(t *testing.T) {
	s, b, _ := busyServer(t, 1, 1)
	h := s.Handler()
	first := serveAsync(h, "first")
	<-b.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", PathRoute, routeJSON("gone")).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "ended while queued") {
		t.Fatalf("cancelled queued request: %d %s", rec.Code, rec.Body)
	}
	close(b.release)
	<-first
	select {
	case p := <-b.started:
		t.Fatalf("%q was routed after its client left", p)
	default:
	}
}

func TestTruncatedPromptsAreCounted(t *testing.T) {
	s, _ := newServer(t)
	h := s.Handler()
	truncated := func() float64 {
		v, ok := scrape(t, h).Value("router_prompts_truncated_total", nil)
		if !ok {
			t.Fatal("router_prompts_truncated_total is missing")
		}
		return v
	}
	if v := truncated(); v != 0 {
		t.Fatalf("before any prompt: %v", v)
	}
	decodeResult(t, do(h, "POST", PathRoute, routeJSON("How do I sort a list in Python?")))
	if v := truncated(); v != 0 {
		t.Fatalf("a short prompt was counted as truncated: %v", v)
	}
	// ~60 KiB, thousands of tokens: far over the 256-token limit.
	long := strings.Repeat("How do I sort a list in Python without a loop? ", 1250)
	res := decodeResult(t, do(h, "POST", PathRoute, routeJSON(long)))
	if res.Category != "coding" {
		t.Fatalf("long coding prompt routed to %+v", res)
	}
	if v := truncated(); v != 1 {
		t.Fatalf("after one long prompt: %v, want 1", v)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
