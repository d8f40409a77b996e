package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// serveForTest serves h with Serve (the production timeouts) on a loopback
// listener until the test ends, and returns its address.
func serveForTest(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, 10*time.Second, quietLogs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// slowHead is the start of a /v1/route request whose body (100 bytes
// announced) stops after 5.
const slowHead = "POST /v1/route HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pro"

// Clients that send their headers and part of their body, then nothing,
// hold no place in the limiter: with 1 slot and 4 queue places, 80 of them
// leave a whole request its place.
func TestSlowBodiesDoNotHoldTheQueue(t *testing.T) {
	s, _ := newServer(t)
	l := limit.New(limit.Options{Concurrency: 1, Queue: 4})
	s.SetLimiter(l)
	var entered atomic.Int32
	h := s.Handler()
	addr := serveForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathRoute {
			entered.Add(1)
		}
		h.ServeHTTP(w, r)
	}))

	const slow = 80
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, slowHead); err != nil {
			t.Fatal(err)
		}
	}
	// Every slow request is in the handler, reading its body.
	waitUntil(t, func() bool { return entered.Load() == slow })
	time.Sleep(50 * time.Millisecond)
	if st := l.Stats(); st != (limit.Stats{}) {
		t.Fatalf("limiter %+v while only bodies arrive, want nothing admitted", st)
	}

	client := &http.Client{Timeout: BodyReadTimeout}
	start := time.Now()
	resp, err := client.Post("http://"+addr+PathRoute, "application/json", routeJSON("How do I make homemade pizza dough?"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	res := decodeResult(t, response{resp.StatusCode, resp.Header, body})
	if res.Category != "cooking" {
		t.Fatalf("routed to %+v", res)
	}
	if d := time.Since(start); d > BodyReadTimeout/2 {
		t.Fatalf("the whole request took %s beside the slow ones", d)
	}
}

// A body that does not arrive within the body timeout is answered 408 (one
// JSON error) and its connection closed; it never entered the limiter.
func TestSlowBodyTimesOut(t *testing.T) {
	s, _ := newServer(t)
	l := limit.New(limit.Options{Concurrency: 1, Queue: 0})
	s.SetLimiter(l)
	s.bodyTimeout = 300 * time.Millisecond
	addr := serveForTest(t, s.Handler())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, slowHead); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < s.bodyTimeout || d > 5*time.Second {
		t.Fatalf("answered after %s, want about %s", d, s.bodyTimeout)
	}
	if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/json" || !resp.Close {
		t.Fatalf("status %d, Content-Type %q, close %v: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Close, body)
	}
	var e map[string]string
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil || len(e) != 1 || !strings.Contains(e["error"], "not received within 300ms") {
		t.Fatalf("body %q (%v)", body, err)
	}
	if dec.More() {
		t.Fatalf("body %q holds more than one JSON value", body)
	}
	// The connection is closed after the answer.
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the 408: read %d, %v; want EOF", n, err)
	}
	if st := l.Stats(); st != (limit.Stats{}) {
		t.Fatalf("limiter %+v", st)
	}
	if v, _ := scrape(t, s.Handler()).Value("router_requests_total", map[string]string{"route": PathRoute, "status": "408"}); v != 1 {
		t.Fatalf("408s counted %v, want 1", v)
	}
	// A whole request is served as before.
	resp, err = http.Post("http://"+addr+PathRoute, "application/json", routeJSON("Is 97 a prime number?"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if res := decodeResult(t, response{resp.StatusCode, resp.Header, body}); res.Category != "math" {
		t.Fatalf("routed to %+v", res)
	}
}
