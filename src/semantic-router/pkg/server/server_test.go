package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/testmodel"
)

// Loaded once for the package by TestMain (loading takes a second or two).
var (
	testCfg   *config.Config
	testRt    *router.Router
	setupErr  error
	quietLogs = log.New(io.Discard, "", 0)
)

func TestMain(m *testing.M) {
	setupErr = setup()
	if setupErr != nil {
		fmt.Fprintf(os.Stderr, "setup failed: %v\n", setupErr)
	}
	os.Exit(m.Run())
}

func setup() error {
	cfg, rt, err := testmodel.Load(filepath.Join("..", "..", "config", "config.json"))
	if err != nil {
		return err
	}
	testCfg, testRt = cfg, rt
	return nil
}

// needModel fails (never skips) a test that needs the real model.
func needModel(tb testing.TB) {
	tb.Helper()
	if setupErr != nil {
		tb.Fatalf("model not loaded: %v", setupErr)
	}
}

// newServer returns a ready server with its own metrics.
func newServer(tb testing.TB) (*Server, *metrics.Registry) {
	tb.Helper()
	needModel(tb)
	reg := metrics.New(append(testRt.Categories(), config.DefaultCategory)...)
	s := New(reg, quietLogs)
	s.SetRouter(testRt)
	return s, reg
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; a POST with a body is sent as application/json.
func do(h http.Handler, method, path string, body io.Reader) response {
	contentType := ""
	if method == "POST" && body != nil {
		contentType = "application/json"
	}
	return doWith(h, method, path, contentType, body)
}

// doWith sends a request with a Content-Type ("" for none).
func doWith(h http.Handler, method, path, contentType string, body io.Reader) response {
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func routeJSON(prompt string) io.Reader {
	b, _ := json.Marshal(map[string]string{"prompt": prompt})
	return bytes.NewReader(b)
}

func decodeResult(t testing.TB, r response) router.Result {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var res router.Result
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("bad body %s: %v", r.body, err)
	}
	return res
}

func TestHeldOutPrompts(t *testing.T) {
	s, _ := newServer(t)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	models := map[string]string{}
	for _, c := range testCfg.Categories {
		models[c.Name] = c.Model
	}
	heldOut := map[string][]string{
		"coding": {
			"How can I read a JSON file in Rust and parse it into a struct?",
			"My C++ program crashes with a segmentation fault when I free memory twice",
			"How do I undo the last git commit?",
		},
		"math": {
			"Calculate the determinant of a 3x3 matrix",
			"What is the limit of (1 + 1/n)^n as n goes to infinity?",
			"Is 97 a prime number?",
		},
		"cooking": {
			"How do I bake chocolate chip cookies that stay chewy?",
			"How do I make crispy roast potatoes?",
			"How do I make homemade pizza dough?",
		},
		"general": {
			"Can you recommend a good novel to read on vacation?",
			"Why is the sky blue?",
			"What is the largest ocean on Earth?",
		},
	}
	for cat, prompts := range heldOut {
		for _, p := range prompts {
			for _, c := range testCfg.Categories {
				for _, ex := range c.Examples {
					if strings.EqualFold(ex, p) {
						t.Fatalf("held-out prompt %q is an example of %s", p, c.Name)
					}
				}
			}
			resp, err := http.Post(ts.URL+PathRoute, "application/json", routeJSON(p))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			res := decodeResult(t, response{resp.StatusCode, resp.Header, body})
			t.Logf("%-8s %.3f %-8s %q", res.Category, res.Score, cat, p)
			if res.Category != cat || res.Model != models[cat] {
				t.Errorf("%q: routed to %s/%s (score %.3f), want %s/%s", p, res.Category, res.Model, res.Score, cat, models[cat])
			}
			if res.Score < float32(testCfg.MinScore) || res.Score > 1.0001 {
				t.Errorf("%q: score %v out of range", p, res.Score)
			}
		}
	}
}

func TestDefaultUnderMinScore(t *testing.T) {
	needModel(t)
	cfg := *testCfg
	cfg.MinScore = 0.99
	rt, err := router.New(&cfg, router.CandleEmbedder{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(metrics.New(), quietLogs)
	s.SetRouter(rt)
	res := decodeResult(t, do(s.Handler(), "POST", PathRoute, routeJSON("Implement binary search in Java")))
	if res.Category != config.DefaultCategory || res.Model != cfg.DefaultModel {
		t.Fatalf("got %+v, want the default model", res)
	}
	// An example itself scores 1 and passes any threshold.
	res = decodeResult(t, do(s.Handler(), "POST", PathRoute, routeJSON(cfg.Categories[1].Examples[0])))
	if res.Category != cfg.Categories[1].Name || res.Score < 0.99 {
		t.Fatalf("example routed to %+v", res)
	}
}

type badCase struct {
	name, method, path string
	body               io.Reader
	status             int
	allow              string
	errContains        string
}

func badCases() []badCase {
	big := `{"prompt": "` + strings.Repeat("a", MaxBodyBytes) + `"}`
	return []badCase{
		{"invalid JSON", "POST", PathRoute, strings.NewReader(`{"prompt": `), 400, "", "invalid JSON"},
		{"syntax error", "POST", PathRoute, strings.NewReader(`{prompt: "x"}`), 400, "", "invalid JSON"},
		{"not an object", "POST", PathRoute, strings.NewReader(`["x"]`), 400, "", "expected a JSON object"},
		{"wrong type", "POST", PathRoute, strings.NewReader(`{"prompt": 42}`), 400, "", `"prompt" must be a string`},
		{"unknown field", "POST", PathRoute, strings.NewReader(`{"prompt": "hi", "temperature": 1}`), 400, "", `unknown field "temperature"`},
		{"trailing data", "POST", PathRoute, strings.NewReader(`{"prompt": "hi"} {}`), 400, "", "unexpected data"},
		{"PROMPT", "POST", PathRoute, strings.NewReader(`{"PROMPT": "How do I sort a list in Python?"}`), 400, "", `unknown field "PROMPT" (keys are case-sensitive: "prompt")`},
		{"Prompt beside prompt", "POST", PathRoute, strings.NewReader(`{"prompt": "hi", "Prompt": "How do I sort a list?"}`), 400, "", `unknown field "Prompt"`},
		{"first unknown field named", "POST", PathRoute, strings.NewReader(`{"prompt": "hi", "z": 1, "PROMPT": "x"}`), 400, "", `unknown field "PROMPT"`},
		{"null body", "POST", PathRoute, strings.NewReader(`null`), 400, "", "expected a JSON object, not null"},
		{"string body", "POST", PathRoute, strings.NewReader(`"hi"`), 400, "", "expected a JSON object, not string"},
		{"missing prompt", "POST", PathRoute, strings.NewReader(`{}`), 400, "", `missing field "prompt"`},
		{"null prompt", "POST", PathRoute, strings.NewReader(`{"prompt": null}`), 400, "", `missing field "prompt"`},
		{"empty prompt", "POST", PathRoute, strings.NewReader(`{"prompt": ""}`), 400, "", "is empty"},
		{"blank prompt", "POST", PathRoute, strings.NewReader(`{"prompt": " \n\t "}`), 400, "", "is empty"},
		{"NUL in prompt", "POST", PathRoute, strings.NewReader(`{"prompt": "a\u0000b"}`), 400, "", "NUL"},
		{"empty body", "POST", PathRoute, strings.NewReader(""), 400, "", "body is empty"},
		{"body too large", "POST", PathRoute, strings.NewReader(big), 413, "", "exceeds 65536 bytes"},
		{"body too large, unknown length", "POST", PathRoute, io.MultiReader(strings.NewReader(big)), 413, "", "exceeds 65536 bytes"},
		{"GET route", "GET", PathRoute, nil, 405, "POST", "not allowed"},
		{"PUT route", "PUT", PathRoute, strings.NewReader(`{"prompt":"x"}`), 405, "POST", "not allowed"},
		{"POST healthz", "POST", PathHealthz, nil, 405, "GET, HEAD", "not allowed"},
		{"DELETE metrics", "DELETE", PathMetrics, nil, 405, "GET, HEAD", "not allowed"},
		{"POST routes", "POST", PathRoutes, nil, 405, "GET, HEAD", "not allowed"},
		{"PUT dashboard", "PUT", PathDashboard, strings.NewReader("x"), 405, "GET, HEAD", "not allowed"},
		{"unknown path", "GET", "/v1/nope", nil, 404, "", "not found"},
		{"root", "GET", "/", nil, 404, "", "not found"},
		{"trailing slash", "POST", PathRoute + "/", strings.NewReader(`{"prompt":"x"}`), 404, "", "not found"},
	}
}

func TestBadInputs(t *testing.T) {
	s, _ := newServer(t)
	for _, c := range badCases() {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, c.body)
			req.Header.Set("Content-Type", "application/json")
			if c.name == "body too large, unknown length" {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != c.allow {
				t.Fatalf("Allow %q, want %q", got, c.allow)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var e map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
			}
			if len(e) != 1 || !strings.Contains(e["error"], c.errContains) {
				t.Fatalf("error body %q, want {\"error\": ...%s...}", rec.Body, c.errContains)
			}
		})
	}
}

func TestOddButValidPrompts(t *testing.T) {
	s, _ := newServer(t)
	for name, body := range map[string]string{
		"invalid UTF-8 (replaced by the decoder)": "{\"prompt\": \"\xff\xfe bread\"}",
		"escaped unicode":                         `{"prompt": "\u00e9t\u00e9 \ud83c\udf5e recipe"}`,
		"long prompt (truncated to 256 tokens)":   `{"prompt": "` + strings.Repeat("how do I sort a list in python ", 1500) + `"}`,
	} {
		r := do(s.Handler(), "POST", PathRoute, strings.NewReader(body))
		res := decodeResult(t, r)
		if res.Category == "" || res.Model == "" {
			t.Errorf("%s: %+v", name, res)
		}
	}
}

func TestHealthz(t *testing.T) {
	reg := metrics.New()
	s := New(reg, quietLogs)
	r := do(s.Handler(), "GET", PathHealthz, nil)
	if r.status != 503 {
		t.Fatalf("healthz before the model: %d %s", r.status, r.body)
	}
	r = do(s.Handler(), "POST", PathRoute, routeJSON("hello"))
	if r.status != 503 || !strings.Contains(string(r.body), "loading") {
		t.Fatalf("route before the model: %d %s", r.status, r.body)
	}
	needModel(t)
	s.SetRouter(testRt)
	r = do(s.Handler(), "GET", PathHealthz, nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	r = do(s.Handler(), "HEAD", PathHealthz, nil)
	if r.status != 200 {
		t.Fatalf("HEAD healthz: %d", r.status)
	}
}

type panicRouter struct{}

func (panicRouter) Route(string) (router.Result, error) { panic("boom") }

type failRouter struct{}

func (failRouter) Route(string) (router.Result, error) {
	return router.Result{}, errors.New("embedding failed")
}

func TestRecover(t *testing.T) {
	reg := metrics.New()
	s := New(reg, quietLogs)
	s.SetRouter(panicRouter{})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for i := 0; i < 2; i++ { // the server survives
		resp, err := http.Post(ts.URL+PathRoute, "application/json", routeJSON("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || strings.TrimSpace(string(body)) != `{"error":"internal server error"}` {
			t.Fatalf("panic: %d %s", resp.StatusCode, body)
		}
	}
	s.SetRouter(failRouter{})
	r := do(s.Handler(), "POST", PathRoute, routeJSON("x"))
	if r.status != 500 || !strings.Contains(string(r.body), "embedding failed") {
		t.Fatalf("router error: %d %s", r.status, r.body)
	}
	e := scrape(t, s.Handler())
	if v, _ := e.Value("router_requests_total", map[string]string{"route": PathRoute, "status": "500"}); v != 3 {
		t.Fatalf("500s counted %v, want 3", v)
	}
}

func scrape(t testing.TB, h http.Handler) *metrics.Exposition {
	t.Helper()
	r := do(h, "GET", PathMetrics, nil)
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	e, err := metrics.Parse(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, r.body)
	}
	return e
}

func TestMetricsCount(t *testing.T) {
	s, _ := newServer(t)
	h := s.Handler()
	wantRoutes := map[string]float64{}
	for _, p := range []string{
		"Implement binary search in Java",
		"Factor the polynomial x^2 - 9",
		"Calculate the determinant of a 3x3 matrix",
		"What spices go well in a beef curry?",
	} {
		res := decodeResult(t, do(h, "POST", PathRoute, routeJSON(p)))
		wantRoutes[res.Category]++
	}
	wantReq := map[[2]string]float64{{PathRoute, "200"}: 4}
	for _, c := range badCases() {
		req := httptest.NewRequest(c.method, c.path, c.body)
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)
		wantReq[[2]string{routeLabel(c.path), fmt.Sprint(c.status)}]++
	}
	do(h, "GET", PathHealthz, nil)
	wantReq[[2]string{PathHealthz, "200"}]++

	e := scrape(t, h) // this scrape is counted after it is written
	for _, name := range []string{"router_requests_total", "router_request_duration_seconds", "router_routes_total"} {
		if e.Help[name] == "" || e.Type[name] == "" {
			t.Errorf("%s lacks HELP or TYPE", name)
		}
	}
	got := map[[2]string]float64{}
	perRoute := map[string]float64{}
	for _, smp := range e.Samples {
		if smp.Name == "router_requests_total" {
			got[[2]string{smp.Labels["route"], smp.Labels["status"]}] = smp.Value
			perRoute[smp.Labels["route"]] += smp.Value
		}
	}
	if fmt.Sprint(sortedKV(got)) != fmt.Sprint(sortedKV(wantReq)) {
		t.Errorf("router_requests_total\n got  %v\n want %v", sortedKV(got), sortedKV(wantReq))
	}
	for route, n := range perRoute {
		cnt, _ := e.Value("router_request_duration_seconds_count", map[string]string{"route": route})
		inf, _ := e.Value("router_request_duration_seconds_bucket", map[string]string{"route": route, "le": "+Inf"})
		sum, _ := e.Value("router_request_duration_seconds_sum", map[string]string{"route": route})
		if cnt != n || inf != n || sum <= 0 {
			t.Errorf("histogram %s: count %v, +Inf %v, sum %v; want %v requests", route, cnt, inf, sum, n)
		}
	}
	for _, cat := range append(testRt.Categories(), config.DefaultCategory) {
		v, ok := e.Value("router_routes_total", map[string]string{"category": cat})
		if !ok || v != wantRoutes[cat] {
			t.Errorf("router_routes_total{category=%q} = %v (present %v), want %v", cat, v, ok, wantRoutes[cat])
		}
	}
	// The scrape itself is now counted.
	e = scrape(t, h)
	if v, _ := e.Value("router_requests_total", map[string]string{"route": PathMetrics, "status": "200"}); v != 1 {
		t.Errorf("scrapes counted %v, want 1", v)
	}
}

func sortedKV(m map[[2]string]float64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s|%s=%v", k[0], k[1], v))
	}
	sort.Strings(out)
	return out
}

func TestConcurrentRequests(t *testing.T) {
	s, _ := newServer(t)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	prompts := []string{
		"Implement binary search in Java",
		"Factor the polynomial x^2 - 9",
		"What spices go well in a beef curry?",
		"Who painted the Mona Lisa?",
		"How do I undo the last git commit?",
		"What is 17 times 23?",
		"How do I make crispy roast potatoes?",
		"What is the population of Canada?",
	}
	post := func(p string) (router.Result, error) {
		resp, err := http.Post(ts.URL+PathRoute, "application/json", routeJSON(p))
		if err != nil {
			return router.Result{}, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return router.Result{}, fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		var res router.Result
		err = json.Unmarshal(body, &res)
		return res, err
	}
	want := make([]router.Result, len(prompts))
	for i, p := range prompts {
		res, err := post(p)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res
	}

	const total, workers = 200, 16
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				k := i % len(prompts)
				res, err := post(prompts[k])
				mu.Lock()
				if err != nil {
					errs = append(errs, err.Error())
				} else if res != want[k] {
					errs = append(errs, fmt.Sprintf("request %d (%q): %+v, sequential %+v", i, prompts[k], res, want[k]))
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed or differed; first: %s", len(errs), total, errs[0])
	}
	e := scrape(t, s.Handler())
	if v, _ := e.Value("router_requests_total", map[string]string{"route": PathRoute, "status": "200"}); v != float64(total+len(prompts)) {
		t.Fatalf("counted %v route requests, want %d", v, total+len(prompts))
	}
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, 10*time.Second, quietLogs) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel() // "SIGTERM" while the request is in flight
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v before the in-flight request finished", err)
	case <-time.After(200 * time.Millisecond):
	}
	// New connections are refused once shutdown has begun.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("listener still accepts connections during shutdown")
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// BenchmarkRoute measures one route request through the handler and
// reports the median latency.
func BenchmarkRoute(b *testing.B) {
	s, _ := newServer(b)
	h := s.Handler()
	body, _ := json.Marshal(map[string]string{"prompt": "How do I implement a binary search tree in Go?"})
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", PathRoute, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		durations = append(durations, time.Since(start))
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	p50 := durations[len(durations)/2]
	b.ReportMetric(float64(p50)/float64(time.Millisecond), "p50-ms")
}
