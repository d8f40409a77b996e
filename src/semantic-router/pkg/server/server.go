// Package server is the router's HTTP API:
//
//	POST /v1/route   {"prompt": "..."} -> {"category": "...", "model": "...", "score": 0.71}
//	GET  /v1/routes  the routing table: {"routes": [{"category": "...", "model": "..."}, ...]}
//	GET  /healthz    200 {"status":"ok"} once the model is loaded, 503 before
//	GET  /metrics    Prometheus text format
//	GET  /dashboard  HTML page: the routing table with live counts from the
//	                 metrics and the model status ("loading" or "ready");
//	                 always 200, /healthz is the readiness probe
//
// POST /v1/route requires Content-Type application/json (415 otherwise: a
// browser cannot send that type cross-origin without a preflight), its
// body within BodyReadTimeout (408 otherwise), and its keys match exactly
// ({"PROMPT": ...} is an unknown field). Only a request whose whole body
// is in enters the limit.Limiter of the embeddings: beyond its slots and
// queue, 503 with Retry-After.
//
// Served by Serve, a request with both Content-Length and Transfer-Encoding
// (or Transfer-Encoding in HTTP/1.0) is answered 400 and its connection
// closed (framing.go).
//
// The routing table (SetRoutes) lists the categories in configuration order,
// then the fallback, category "default". Errors are JSON objects
// {"error": "..."}.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/limit"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
)

// MaxBodyBytes is the largest accepted request body (413 above).
const MaxBodyBytes = 64 << 10

// BodyReadTimeout bounds the time a POST /v1/route has to send its body,
// from the end of its headers; 408 after. It is the request's own deadline:
// a request takes no place in the limiter (slot or queue) until its whole
// body is in, so slow clients cannot keep others out.
const BodyReadTimeout = 10 * time.Second

// RetryAfterSeconds is the Retry-After of a 503 (busy or loading).
const RetryAfterSeconds = 1

// Paths of the API; any other path is reported in metrics as route "other".
const (
	PathRoute     = "/v1/route"
	PathRoutes    = "/v1/routes"
	PathHealthz   = "/healthz"
	PathMetrics   = "/metrics"
	PathDashboard = "/dashboard"
	RouteOther    = "other"
)

// Router decides the route of a prompt (*router.Router in production).
type Router interface {
	Route(prompt string) (router.Result, error)
}

type routerBox struct{ r Router }

// Server serves the API. Create it with New; it reports not ready (503)
// until SetRouter is called.
type Server struct {
	metrics *metrics.Registry
	logger  *log.Logger
	router  atomic.Pointer[routerBox]
	limiter *limit.Limiter
	// bodyTimeout is BodyReadTimeout (shorter in tests).
	bodyTimeout time.Duration

	// Set before serving (SetRoutes, SetPrometheusURL), read-only after.
	routes        []Route
	prometheusURL string
}

// New returns a server recording into m and logging to logger (nil: the
// standard logger). Its limiter runs one embedding per CPU and queues
// limit.DefaultQueue; SetLimiter replaces it.
func New(m *metrics.Registry, logger *log.Logger) *Server {
	if logger == nil {
		logger = log.Default()
	}
	l := limit.New(limit.Options{Concurrency: limit.DefaultConcurrency(), Queue: limit.DefaultQueue})
	return &Server{metrics: m, logger: logger, limiter: l, bodyTimeout: BodyReadTimeout}
}

// SetLimiter replaces the limiter of /v1/route; call it before serving.
func (s *Server) SetLimiter(l *limit.Limiter) { s.limiter = l }

// SetRouter installs the router and marks the server ready.
func (s *Server) SetRouter(r Router) { s.router.Store(&routerBox{r}) }

// Ready reports whether a router is installed (the model is loaded).
func (s *Server) Ready() bool { return s.router.Load() != nil }

// Handler returns the HTTP handler: dispatch, panic recovery and metrics.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	route := routeLabel(r.URL.Path)
	defer func() {
		v := recover()
		if v != nil {
			if v == http.ErrAbortHandler {
				s.metrics.ObserveRequest(route, statusOr(sw, 500), time.Since(start))
				panic(v)
			}
			s.logger.Printf("panic serving %s %s: %v\n%s", r.Method, r.URL.Path, v, debug.Stack())
			if !sw.wroteHeader {
				writeError(sw, http.StatusInternalServerError, "internal server error")
			}
		}
		s.metrics.ObserveRequest(route, statusOr(sw, http.StatusOK), time.Since(start))
	}()
	if msg := framingError(r); msg != "" {
		sw.Header().Set("Connection", "close")
		writeError(sw, http.StatusBadRequest, msg)
		return
	}
	s.dispatch(sw, r)
}

func statusOr(sw *statusWriter, def int) int {
	if sw.wroteHeader {
		return sw.status
	}
	return def
}

func routeLabel(path string) string {
	switch path {
	case PathRoute, PathRoutes, PathHealthz, PathMetrics, PathDashboard:
		return path
	}
	return RouteOther
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathRoute:
		if !allow(w, r, http.MethodPost) {
			return
		}
		s.handleRoute(w, r)
	case PathRoutes:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		s.handleRoutes(w)
	case PathDashboard:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		s.handleDashboard(w, r)
	case PathHealthz:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		if !s.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case PathMetrics:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		var buf bytes.Buffer
		if _, err := s.metrics.WriteTo(&buf); err != nil {
			writeError(w, http.StatusInternalServerError, "cannot write metrics")
			return
		}
		w.Header().Set("Content-Type", metrics.ContentType)
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(buf.Bytes())
		}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("not found: %s", r.URL.Path))
	}
}

// allow answers 405 with an Allow header unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	list := strings.Join(methods, ", ")
	w.Header().Set("Allow", list)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, list))
	return false
}

func (s *Server) handleRoute(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type must be application/json, not %q", ct))
		return
	}
	box := s.router.Load()
	if box == nil {
		unavailable(w, "model is loading, retry later")
		return
	}
	if r.ContentLength > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes))
		return
	}
	// The body first, under its own deadline and outside the limiter: a
	// slow client holds neither a slot nor a queue place.
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	prompt, msg := parseRouteRequest(body)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if !s.limiter.Enter() {
		unavailable(w, fmt.Sprintf("busy: %d prompts are being embedded and %d are queued, retry later",
			s.limiter.Concurrency(), s.limiter.Queue()))
		return
	}
	defer s.limiter.Leave()
	var res router.Result
	var routeErr error
	if err := s.limiter.Do(r.Context(), func() { res, routeErr = box.r.Route(prompt) }); err != nil {
		if errors.Is(err, limit.ErrWaited) {
			unavailable(w, fmt.Sprintf("busy: no embedding slot came free within %s, retry later", s.limiter.MaxWait()))
		} else {
			unavailable(w, "request ended while queued: "+err.Error())
		}
		return
	}
	if err := routeErr; err != nil {
		s.logger.Printf("routing failed: %v", err)
		writeError(w, http.StatusInternalServerError, "routing failed: "+err.Error())
		return
	}
	s.metrics.ObserveRoute(res.Category)
	if res.Truncated {
		s.metrics.ObserveTruncated()
	}
	writeJSON(w, http.StatusOK, res)
}

// readBody reads the request body (at most MaxBodyBytes) within
// s.bodyTimeout of the handler's start; otherwise it answers (408, 413 or
// 400) and reports false. The deadline is the connection's read deadline
// (through http.ResponseController; a writer without one, such as
// httptest's recorder, reads without it), cleared once the body is in: a
// queued request still notices its client leaving.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	rc := http.NewResponseController(w)
	timed := rc.SetReadDeadline(time.Now().Add(s.bodyTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err == nil {
		if timed {
			_ = rc.SetReadDeadline(time.Time{})
		}
		return body, true
	}
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes))
	case errors.As(err, &netErr) && netErr.Timeout():
		// The rest of the body may still come: the connection cannot be reused.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", s.bodyTimeout))
	default:
		writeError(w, http.StatusBadRequest, "cannot read request body: "+err.Error())
	}
	return nil, false
}

// isJSON reports whether a Content-Type is application/json, with no
// charset or UTF-8 (the only encoding of JSON, RFC 8259).
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

// unavailable answers 503 with Retry-After.
func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	writeError(w, http.StatusServiceUnavailable, msg)
}

// parseRouteRequest returns the prompt, or a message saying what is wrong.
// Keys match exactly: encoding/json would decode {"PROMPT": ...} into a
// field tagged "prompt", so the object is decoded into a map.
func parseRouteRequest(body []byte) (string, string) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", "request body is empty: expected {\"prompt\": \"...\"}"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var typ *json.UnmarshalTypeError
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &typ):
			return "", fmt.Sprintf("invalid request: expected a JSON object, not %s", typ.Value)
		case errors.As(err, &syn):
			return "", fmt.Sprintf("invalid JSON at offset %d: %v", syn.Offset, syn)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "", "invalid JSON: unexpected end of input"
		default:
			return "", "invalid JSON: " + err.Error()
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "invalid JSON: unexpected data after the request object"
	}
	if fields == nil {
		return "", "invalid request: expected a JSON object, not null"
	}
	var unknown []string
	for k := range fields {
		if k != "prompt" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		msg := fmt.Sprintf("invalid request: unknown field %q", unknown[0])
		if strings.EqualFold(unknown[0], "prompt") {
			msg += ` (keys are case-sensitive: "prompt")`
		}
		return "", msg
	}
	raw, ok := fields["prompt"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", "missing field \"prompt\""
	}
	var prompt string
	if err := json.Unmarshal(raw, &prompt); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return "", fmt.Sprintf("invalid request: field \"prompt\" must be a string, not %s", typ.Value)
		}
		return "", "invalid request: field \"prompt\": " + err.Error()
	}
	switch {
	case strings.TrimSpace(prompt) == "":
		return "", "field \"prompt\" is empty"
	case strings.IndexByte(prompt, 0) >= 0:
		return "", "field \"prompt\" contains a NUL character"
	}
	return prompt, ""
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "cannot encode response: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController-style helpers reach the original writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Serve serves h on ln until ctx is done, then shuts down gracefully:
// the listener closes at once and in-flight requests get up to
// shutdownTimeout to finish. It returns nil after a clean shutdown.
//
// Its connections record the framing of their requests: the Server's
// handler answers 400 to a request with both Content-Length and
// Transfer-Encoding (see framing.go), which net/http would accept.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, shutdownTimeout time.Duration, logger *log.Logger) error {
	ln = framingListener{ln}
	srv := &http.Server{
		Handler:           h,
		ConnContext:       framingContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if logger != nil {
		srv.ErrorLog = logger
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err // Serve failed on its own
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
