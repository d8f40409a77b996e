package server

import (
	"bytes"
	"html/template"
	"net/http"
	"sort"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
)

// Route is one entry of the routing table: prompts of Category go to Model.
type Route struct {
	Category string `json:"category"`
	Model    string `json:"model"`
}

// RoutesFromConfig returns the routing table of cfg: every category in
// configuration order, then the fallback (category "default") when
// default_model is set.
func RoutesFromConfig(cfg *config.Config) []Route {
	routes := make([]Route, 0, len(cfg.Categories)+1)
	for _, c := range cfg.Categories {
		routes = append(routes, Route{Category: c.Name, Model: c.Model})
	}
	if cfg.DefaultModel != "" {
		routes = append(routes, Route{Category: config.DefaultCategory, Model: cfg.DefaultModel})
	}
	return routes
}

// SetRoutes sets the routing table shown by /v1/routes and /dashboard.
// Call it before serving.
func (s *Server) SetRoutes(routes []Route) {
	s.routes = append([]Route(nil), routes...)
}

// SetPrometheusURL sets the target of the dashboard's "Prometheus" link;
// empty (the default) shows no link. Call it before serving.
func (s *Server) SetPrometheusURL(u string) { s.prometheusURL = u }

type routesResponse struct {
	Routes []Route `json:"routes"`
}

func (s *Server) handleRoutes(w http.ResponseWriter) {
	routes := s.routes
	if routes == nil {
		routes = []Route{}
	}
	writeJSON(w, http.StatusOK, routesResponse{routes})
}

type dashboardRoute struct {
	Route
	Fallback bool
	Routed   uint64
}

type dashboardData struct {
	Ready         bool
	PrometheusURL string
	Routes        []dashboardRoute
	Requests      []metrics.RequestCount
	TotalRequests uint64
}

// dashboardData joins the routing table with a snapshot of the metrics.
// Categories counted but not in the table follow it, sorted.
func (s *Server) dashboardData() dashboardData {
	snap := s.metrics.Snapshot()
	d := dashboardData{Ready: s.Ready(), PrometheusURL: s.prometheusURL, Requests: snap.Requests}
	listed := make(map[string]bool, len(s.routes))
	for _, r := range s.routes {
		listed[r.Category] = true
		d.Routes = append(d.Routes, dashboardRoute{r, r.Category == config.DefaultCategory, snap.Routes[r.Category]})
	}
	var extra []string
	for c := range snap.Routes {
		if !listed[c] {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	for _, c := range extra {
		d.Routes = append(d.Routes, dashboardRoute{Route{Category: c}, c == config.DefaultCategory, snap.Routes[c]})
	}
	for _, r := range snap.Requests {
		d.TotalRequests += r.Count
	}
	return d
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := dashboardTemplate.Execute(&buf, s.dashboardData()); err != nil {
		s.logger.Printf("dashboard: %v", err)
		writeError(w, http.StatusInternalServerError, "cannot render the dashboard")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// dashboardTemplate is self-contained: no script, no external resource.
var dashboardTemplate = template.Must(template.New("dashboard").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>semantic-router dashboard</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: .3rem .8rem; text-align: left; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.ready { color: #070; font-weight: bold; }
.loading { color: #a60; font-weight: bold; }
.note { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<h1>semantic-router dashboard</h1>
<p>Model: {{if .Ready}}<span id="status" class="ready">ready</span>{{else}}<span id="status" class="loading">loading</span>{{end}}
| <a href="/v1/routes">routes (JSON)</a> | <a href="/metrics">metrics</a> | <a href="/healthz">healthz</a>
{{- with .PrometheusURL}} | <a id="prometheus" href="{{.}}">Prometheus</a>{{end}}</p>

<h2>Routes</h2>
<table id="routes">
<thead><tr><th>Category</th><th>Model</th><th>Routed</th></tr></thead>
<tbody>
{{- range .Routes}}
<tr><td>{{.Category}}{{if .Fallback}} <span class="note">(fallback)</span>{{end}}</td><td>{{.Model}}</td><td class="n">{{.Routed}}</td></tr>
{{- else}}
<tr><td colspan="3">no routes</td></tr>
{{- end}}
</tbody>
</table>

<h2>Requests</h2>
<table id="requests">
<thead><tr><th>Path</th><th>Status</th><th>Requests</th></tr></thead>
<tbody>
{{- range .Requests}}
<tr><td>{{.Route}}</td><td>{{.Status}}</td><td class="n">{{.Count}}</td></tr>
{{- else}}
<tr><td colspan="3">no requests yet</td></tr>
{{- end}}
</tbody>
<tfoot><tr><th colspan="2">Total</th><td class="n">{{.TotalRequests}}</td></tr></tfoot>
</table>
<p class="note">Counters since the router started; this page refreshes every 5 seconds.</p>
</body>
</html>
`))
