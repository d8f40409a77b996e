package server

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
)

const dashboardMarker = "semantic-router dashboard"

// promptRouter routes a prompt to the category named by its first word
// (no model needed).
type promptRouter map[string]string

func (p promptRouter) Route(prompt string) (router.Result, error) {
	cat := strings.Fields(prompt)[0]
	model, ok := p[cat]
	if !ok {
		return router.Result{Category: config.DefaultCategory, Model: "fallback-model", Score: 0.1}, nil
	}
	return router.Result{Category: cat, Model: model, Score: 0.9}, nil
}

func dashboardConfig() *config.Config {
	return &config.Config{
		DefaultModel: "fallback-model",
		Categories: []config.Category{
			{Name: "math", Model: "math-model", Examples: []string{"x"}},
			{Name: "coding", Model: "coder-model", Examples: []string{"x"}},
			{Name: "cooking", Model: "chef-model", Examples: []string{"x"}},
		},
	}
}

// newDashboardServer returns a server with the routes of cfg, not ready.
func newDashboardServer(cfg *config.Config) (*Server, *metrics.Registry) {
	var names []string
	for _, c := range cfg.Categories {
		names = append(names, c.Name)
	}
	reg := metrics.New(append(names, config.DefaultCategory)...)
	s := New(reg, quietLogs)
	s.SetRoutes(RoutesFromConfig(cfg))
	return s, reg
}

func readyRouter(cfg *config.Config) promptRouter {
	p := promptRouter{}
	for _, c := range cfg.Categories {
		p[c.Name] = c.Model
	}
	return p
}

var (
	trRE   = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE = regexp.MustCompile(`(?s)<t[dh][^>]*>(.*?)</t[dh]>`)
	tagRE  = regexp.MustCompile(`<[^>]*>`)
)

// tableRows returns the text of the cells of each body row of the table
// with the given id.
func tableRows(t *testing.T, page, id string) [][]string {
	t.Helper()
	start := strings.Index(page, `<table id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no table %q in\n%s", id, page)
	}
	tbl := page[start:]
	tbl = tbl[:strings.Index(tbl, "</table>")]
	body := tbl[strings.Index(tbl, "<tbody>"):strings.Index(tbl, "</tbody>")]
	var rows [][]string
	for _, tr := range trRE.FindAllStringSubmatch(body, -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(tr[1], -1) {
			cells = append(cells, html.UnescapeString(strings.TrimSpace(tagRE.ReplaceAllString(c[1], ""))))
		}
		rows = append(rows, cells)
	}
	return rows
}

// getPage fetches /dashboard and checks the status and headers.
func getPage(t *testing.T, h http.Handler) string {
	t.Helper()
	r := do(h, "GET", PathDashboard, nil)
	if r.status != http.StatusOK {
		t.Fatalf("/dashboard: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("/dashboard Content-Type %q", ct)
	}
	return string(r.body)
}

func statusText(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`<span id="status"[^>]*>([^<]*)</span>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no status in\n%s", page)
	}
	return m[1]
}

func TestRoutesFromConfig(t *testing.T) {
	cfg := dashboardConfig()
	got := RoutesFromConfig(cfg)
	want := []Route{{"math", "math-model"}, {"coding", "coder-model"}, {"cooking", "chef-model"}, {"default", "fallback-model"}}
	if len(got) != len(want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("routes %v, want %v", got, want)
		}
	}
	cfg.DefaultModel = ""
	if got := RoutesFromConfig(cfg); len(got) != 3 || got[2].Category != "cooking" {
		t.Fatalf("without default_model: %v", got)
	}
}

func TestRoutesEndpoint(t *testing.T) {
	s := New(metrics.New(), quietLogs)
	r := do(s.Handler(), "GET", PathRoutes, nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"routes":[]}` {
		t.Fatalf("without routes: %d %s", r.status, r.body)
	}

	s, _ = newDashboardServer(dashboardConfig())
	r = do(s.Handler(), "GET", PathRoutes, nil)
	if r.status != 200 {
		t.Fatalf("/v1/routes while loading: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	const want = `{"routes":[` +
		`{"category":"math","model":"math-model"},` +
		`{"category":"coding","model":"coder-model"},` +
		`{"category":"cooking","model":"chef-model"},` +
		`{"category":"default","model":"fallback-model"}]}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Fatalf("body\n got  %s\n want %s", got, want)
	}
	var got struct{ Routes []Route }
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || len(got.Routes) != 4 {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

func TestDashboardRoutes(t *testing.T) {
	cfg := dashboardConfig()
	s, _ := newDashboardServer(cfg)
	page := getPage(t, s.Handler()) // before SetRouter: 200, "loading"
	for _, want := range []string{"<title>" + dashboardMarker + "</title>", "<h1>" + dashboardMarker + "</h1>", `<meta http-equiv="refresh" content="5">`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if got := statusText(t, page); got != "loading" {
		t.Errorf("status before SetRouter %q, want loading", got)
	}
	rows := tableRows(t, page, "routes")
	want := [][]string{
		{"math", "math-model", "0"},
		{"coding", "coder-model", "0"},
		{"cooking", "chef-model", "0"},
		{"default (fallback)", "fallback-model", "0"},
	}
	if fmtRows(rows) != fmtRows(want) {
		t.Errorf("routes table\n got  %v\n want %v", rows, want)
	}
	// Self-contained: nothing is loaded from elsewhere.
	for _, bad := range []string{"<script", "src=", "<link", "http://", "https://", "Prometheus"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}

	s.SetRouter(readyRouter(cfg))
	if got := statusText(t, getPage(t, s.Handler())); got != "ready" {
		t.Errorf("status after SetRouter %q, want ready", got)
	}
}

func fmtRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, " | "))
		b.WriteString("\n")
	}
	return b.String()
}

func TestDashboardCounts(t *testing.T) {
	cfg := dashboardConfig()
	s, _ := newDashboardServer(cfg)
	s.SetRouter(readyRouter(cfg))
	h := s.Handler()
	for _, p := range []string{"coding one", "coding two", "weather today"} {
		if r := do(h, "POST", PathRoute, routeJSON(p)); r.status != 200 {
			t.Fatalf("route %q: %d %s", p, r.status, r.body)
		}
	}
	do(h, "POST", PathRoute, strings.NewReader(`{}`)) // 400
	page := getPage(t, h)
	routed := map[string]string{}
	for _, r := range tableRows(t, page, "routes") {
		routed[r[0]] = r[2]
	}
	for cat, n := range map[string]string{"coding": "2", "math": "0", "cooking": "0", "default (fallback)": "1"} {
		if routed[cat] != n {
			t.Errorf("routed to %s: %q, want %s (table %v)", cat, routed[cat], n, routed)
		}
	}
	reqs := fmtRows(tableRows(t, page, "requests"))
	if want := "/v1/route | 200 | 3\n/v1/route | 400 | 1\n"; reqs != want {
		t.Errorf("requests table\n got  %q\n want %q", reqs, want)
	}
	if !strings.Contains(page, `<th colspan="2">Total</th><td class="n">4</td>`) {
		t.Errorf("total not 4:\n%s", page)
	}

	// The counts are live: one more request shows on the next render,
	// and the previous render of /dashboard is now counted too.
	do(h, "POST", PathRoute, routeJSON("coding three"))
	page = getPage(t, h)
	for _, r := range tableRows(t, page, "routes") {
		if r[0] == "coding" && r[2] != "3" {
			t.Errorf("coding after one more request: %v", r)
		}
	}
	reqs = fmtRows(tableRows(t, page, "requests"))
	if want := "/dashboard | 200 | 1\n/v1/route | 200 | 4\n/v1/route | 400 | 1\n"; reqs != want {
		t.Errorf("requests table\n got  %q\n want %q", reqs, want)
	}
}

func TestDashboardEscapes(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	cfg := dashboardConfig()
	cfg.Categories[0].Name = evil
	cfg.Categories[0].Model = `m&"'<b>`
	s, reg := newDashboardServer(cfg)
	reg.ObserveRoute(`<img src=x onerror=alert(1)>`) // a counted category outside the table
	s.SetPrometheusURL(`http://prom:9090/graph?g0.expr=a"><script>x</script>&x=1`)
	page := getPage(t, s.Handler())
	for _, bad := range []string{"<script", "<img", "<b>", `a"><`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q:\n%s", bad, page)
		}
	}
	rows := tableRows(t, page, "routes")
	if rows[0][0] != evil || rows[0][1] != `m&"'<b>` {
		t.Errorf("first row %q, want the name and model back after unescaping", rows[0])
	}
	if last := rows[len(rows)-1]; last[0] != `<img src=x onerror=alert(1)>` || last[2] != "1" {
		t.Errorf("last row %q", last)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("category not HTML-escaped:\n%s", page)
	}
	m := regexp.MustCompile(`<a id="prometheus" href="([^"]*)">Prometheus</a>`).FindStringSubmatch(page)
	if m == nil || !strings.HasPrefix(m[1], "http://prom:9090/graph?") {
		t.Fatalf("no Prometheus link:\n%s", page)
	}

	// A javascript: URL is neutralised by html/template.
	s.SetPrometheusURL("javascript:alert(1)")
	if page := getPage(t, s.Handler()); strings.Contains(page, "javascript:") || !strings.Contains(page, ">Prometheus</a>") {
		t.Errorf("javascript: link:\n%s", page)
	}
}

func TestDashboardPrometheusLink(t *testing.T) {
	s, _ := newDashboardServer(dashboardConfig())
	if page := getPage(t, s.Handler()); strings.Contains(page, "Prometheus") {
		t.Errorf("link without a URL:\n%s", page)
	}
	s.SetPrometheusURL("http://localhost:9090")
	if page := getPage(t, s.Handler()); !strings.Contains(page, `<a id="prometheus" href="http://localhost:9090">Prometheus</a>`) {
		t.Errorf("no link to http://localhost:9090:\n%s", page)
	}
}

func TestDashboardMethods(t *testing.T) {
	s, _ := newDashboardServer(dashboardConfig())
	h := s.Handler()
	for _, c := range []struct{ method, path string }{
		{"POST", PathDashboard},
		{"DELETE", PathDashboard},
		{"POST", PathRoutes},
		{"PUT", PathRoutes},
	} {
		r := do(h, c.method, c.path, nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: %d, Allow %q; want 405, GET, HEAD", c.method, c.path, r.status, r.header.Get("Allow"))
		}
		if !strings.Contains(string(r.body), "not allowed") || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: body %s", c.method, c.path, r.body)
		}
	}
	r := do(h, "HEAD", PathDashboard, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD /dashboard: %d, %d bytes, %q", r.status, len(r.body), r.header.Get("Content-Type"))
	}
	for _, p := range []string{PathDashboard + "/", "/dashboard.html", PathRoutes + "/"} {
		if r := do(h, "GET", p, nil); r.status != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
}

func TestDashboardMetricsLabels(t *testing.T) {
	s, _ := newDashboardServer(dashboardConfig())
	h := s.Handler()
	do(h, "GET", PathDashboard, nil)
	do(h, "GET", PathDashboard, nil)
	do(h, "POST", PathDashboard, nil)
	do(h, "GET", PathRoutes, nil)
	do(h, "PUT", PathRoutes, nil)
	do(h, "GET", "/dashboard/x", nil)
	e := scrape(t, h)
	for _, c := range []struct {
		route, status string
		want          float64
	}{
		{"/dashboard", "200", 2},
		{"/dashboard", "405", 1},
		{"/v1/routes", "200", 1},
		{"/v1/routes", "405", 1},
		{"other", "404", 1},
	} {
		if v, _ := e.Value("router_requests_total", map[string]string{"route": c.route, "status": c.status}); v != c.want {
			t.Errorf("router_requests_total{route=%q,status=%q} = %v, want %v", c.route, c.status, v, c.want)
		}
	}
	if n, _ := e.Value("router_request_duration_seconds_count", map[string]string{"route": "/dashboard"}); n != 3 {
		t.Errorf("/dashboard durations %v, want 3", n)
	}
}
