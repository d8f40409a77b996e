package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/limit"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/testmodel"
)

// Loaded once for the package by TestMain.
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

// modelOf is the configured model of a category.
func modelOf(t testing.TB, category string) string {
	t.Helper()
	for _, c := range testCfg.Categories {
		if c.Name == category {
			return c.Model
		}
	}
	t.Fatalf("no category %q in the config", category)
	return ""
}

// testServer is a Server on a loopback gRPC listener.
type testServer struct {
	srv     *Server
	reg     *metrics.Registry
	limiter *limit.Limiter
	client  extprocv3.ExternalProcessorClient
	addr    string
}

// start serves a Server with router rt (nil: none, the model is loading)
// and limiter l (nil: 2 slots, 64 queued) until the test ends.
func start(t testing.TB, rt Router, l *limit.Limiter) *testServer {
	t.Helper()
	if l == nil {
		l = limit.New(limit.Options{Concurrency: 2, Queue: 64})
	}
	reg := metrics.New()
	srv := New(reg, l, quietLogs)
	if rt != nil {
		srv.SetRouter(rt)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, NewGRPCServer(srv), 5*time.Second) }()
	conn := dial(t, ln.Addr().String())
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{srv: srv, reg: reg, limiter: l, client: extprocv3.NewExternalProcessorClient(conn), addr: ln.Addr().String()}
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func requestHeaders() *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":method", RawValue: []byte("POST")},
			{Key: ":path", RawValue: []byte("/v1/chat/completions")},
			{Key: "content-type", RawValue: []byte("application/json")},
		}},
	}}}
}

func requestBody(body string, end bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: end}}}
}

// chat is a chat completions body with one user message.
func chat(model, prompt string) string {
	b, _ := json.Marshal(map[string]interface{}{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
	})
	return string(b)
}

// exchange sends each message on a new stream and reads its answer. It
// stops after an immediate response, then expects the stream to end.
func exchange(t testing.TB, c extprocv3.ExternalProcessorClient, msgs ...*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := c.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*extprocv3.ProcessingResponse
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			t.Fatalf("send: %v", err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		out = append(out, resp)
		if resp.GetImmediateResponse() != nil {
			break
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != io.EOF {
		t.Fatalf("stream did not end cleanly: %v %v", resp, err)
	}
	return out
}

// headerMap returns the headers set by a mutation; values are RawValue.
func headerMap(t testing.TB, m *extprocv3.HeaderMutation) map[string]string {
	t.Helper()
	h := map[string]string{}
	for _, o := range m.GetSetHeaders() {
		if o.GetHeader().GetValue() != "" {
			t.Errorf("header %s set in Value, not RawValue", o.GetHeader().GetKey())
		}
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %s appended (%v), not replaced", o.GetHeader().GetKey(), o.GetAppendAction())
		}
		h[o.GetHeader().GetKey()] = string(o.GetHeader().GetRawValue())
	}
	return h
}

// routed checks a routing answer to a request body and returns it.
func routed(t testing.TB, resp *extprocv3.ProcessingResponse) *extprocv3.CommonResponse {
	t.Helper()
	if imm := resp.GetImmediateResponse(); imm != nil {
		t.Fatalf("immediate response %v: %s", imm.GetStatus().GetCode(), imm.GetBody())
	}
	c := resp.GetRequestBody().GetResponse()
	if c == nil {
		t.Fatalf("not a request body answer: %v", resp)
	}
	if c.GetStatus() != extprocv3.CommonResponse_CONTINUE || !c.GetClearRouteCache() {
		t.Fatalf("status %v, clear_route_cache %v", c.GetStatus(), c.GetClearRouteCache())
	}
	return c
}

// wantContinue checks an answer that changes nothing.
func wantContinue(t testing.TB, c *extprocv3.CommonResponse) {
	t.Helper()
	if c == nil {
		t.Fatal("no common response")
	}
	if c.GetStatus() != extprocv3.CommonResponse_CONTINUE || c.GetHeaderMutation() != nil || c.GetBodyMutation() != nil || c.GetClearRouteCache() {
		t.Fatalf("want a plain CONTINUE, got %v", c)
	}
}

// wantImmediate checks an immediate response and returns its error message.
func wantImmediate(t testing.TB, resp *extprocv3.ProcessingResponse, code int) string {
	t.Helper()
	imm := resp.GetImmediateResponse()
	if imm == nil {
		t.Fatalf("want an immediate %d, got %v", code, resp)
	}
	if got := int(imm.GetStatus().GetCode()); got != code {
		t.Fatalf("status %d, want %d: %s", got, code, imm.GetBody())
	}
	if ct := headerMap(t, imm.GetHeaders())["content-type"]; ct != "application/json" {
		t.Fatalf("content-type %q", ct)
	}
	var body map[string]string
	dec := json.NewDecoder(bytes.NewReader(imm.GetBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body["error"] == "" || len(body) != 1 {
		t.Fatalf("body %q is not {\"error\": ...} (%v)", imm.GetBody(), err)
	}
	return body["error"]
}

func metricValue(t testing.TB, reg *metrics.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	var buf bytes.Buffer
	if _, err := reg.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	e, err := metrics.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := e.Value(name, labels)
	return v
}

func TestRouting(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	const prompt = "My C++ program crashes with a segmentation fault when I free memory twice"
	body := chat("gpt-4o", prompt)
	resps := exchange(t, ts.client, requestHeaders(), requestBody(body, true))

	wantContinue(t, resps[0].GetRequestHeaders().GetResponse())
	c := routed(t, resps[1])
	h := headerMap(t, c.GetHeaderMutation())
	if h[HeaderCategory] != "coding" || h[HeaderModel] != modelOf(t, "coding") || len(h) != 3 {
		t.Fatalf("headers %v, want category coding, model %s", h, modelOf(t, "coding"))
	}
	// The confidence is the score as /v1/route writes it.
	want, err := testRt.Route(prompt)
	if err != nil {
		t.Fatal(err)
	}
	score, err := strconv.ParseFloat(h[HeaderConfidence], 32)
	if err != nil || score < testCfg.MinScore || score > 1 || score-float64(want.Score) > 1e-4 || float64(want.Score)-score > 1e-4 {
		t.Fatalf("confidence %q, want about %v", h[HeaderConfidence], want.Score)
	}
	if js, _ := json.Marshal(float32(score)); string(js) != h[HeaderConfidence] {
		t.Fatalf("confidence %q is not formatted as /v1/route formats %s", h[HeaderConfidence], js)
	}
	// An explicit model is left as sent.
	if c.GetBodyMutation() != nil || len(c.GetHeaderMutation().GetRemoveHeaders()) != 0 {
		t.Fatalf("explicit model: body mutation %v, removed headers %v", c.GetBodyMutation(), c.GetHeaderMutation().GetRemoveHeaders())
	}

	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"router_extproc_requests_total", map[string]string{"phase": PhaseRequestHeaders}, 1},
		{"router_extproc_requests_total", map[string]string{"phase": PhaseRequestBody}, 1},
		{"router_extproc_duration_seconds_count", map[string]string{"phase": PhaseRequestBody}, 1},
		{"router_routes_total", map[string]string{"category": "coding"}, 1},
	} {
		if got := metricValue(t, ts.reg, m.name, m.labels); got != m.want {
			t.Errorf("%s = %v, want %v", metrics.SeriesKey(m.name, m.labels), got, m.want)
		}
	}
}

func TestHeldOutPrompts(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	for prompt, cat := range map[string]string{
		"How do I undo the last git commit?":                             "coding",
		"Calculate the determinant of a 3x3 matrix":                      "math",
		"How do I make homemade pizza dough?":                            "cooking",
		"Can you recommend a good novel to read on vacation?":            "general",
		"How can I read a JSON file in Rust and parse it into a struct?": "coding",
	} {
		c := routed(t, exchange(t, ts.client, requestBody(chat("auto", prompt), true))[0])
		h := headerMap(t, c.GetHeaderMutation())
		if h[HeaderCategory] != cat || h[HeaderModel] != modelOf(t, cat) {
			t.Errorf("%q: routed to %s/%s, want %s/%s", prompt, h[HeaderCategory], h[HeaderModel], cat, modelOf(t, cat))
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
	ts := start(t, rt, nil)
	c := routed(t, exchange(t, ts.client, requestBody(chat("auto", "Implement binary search in Java"), true))[0])
	h := headerMap(t, c.GetHeaderMutation())
	if h[HeaderCategory] != config.DefaultCategory || h[HeaderModel] != cfg.DefaultModel {
		t.Fatalf("headers %v, want category default, model %s", h, cfg.DefaultModel)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(c.GetBodyMutation().GetBody(), &out); err != nil || out["model"] != cfg.DefaultModel {
		t.Fatalf("body %s (%v), want model %s", c.GetBodyMutation().GetBody(), err, cfg.DefaultModel)
	}
}

func TestAutoModel(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	body := `{"model": "auto", "temperature": 0.2, "stream": true, "user": "<b>&amp;</b>",
		"metadata": {"trace": [1, 2.50, "x"]},
		"messages": [
			{"role": "system", "content": "You are helpful."},
			{"role": "user", "content": "What is the derivative of x^3 + 2x?"},
			{"role": "assistant", "content": "3x^2 + 2"},
			{"role": "user", "content": [
				{"type": "text", "text": "How do I fix a borrow checker error in Rust"},
				{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
				{"type": "text", "text": "when I push to a vector while iterating over it?"}]}]}`
	c := routed(t, exchange(t, ts.client, requestHeaders(), requestBody(body, true))[1])
	h := headerMap(t, c.GetHeaderMutation())
	if h[HeaderCategory] != "coding" || h[HeaderModel] != modelOf(t, "coding") {
		t.Fatalf("headers %v: the last user message is about Rust", h)
	}
	if rm := c.GetHeaderMutation().GetRemoveHeaders(); len(rm) != 1 || rm[0] != "content-length" {
		t.Fatalf("removed headers %v, want content-length", rm)
	}
	out := c.GetBodyMutation().GetBody()
	var got, want map[string]interface{}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("body %s: %v", out, err)
	}
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	want["model"] = modelOf(t, "coding")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %s\nwant %v", out, want)
	}
	if !strings.Contains(string(out), `"user":"<b>&amp;</b>"`) {
		t.Fatalf("body %s changed the text of a field", out)
	}
}

// Only the model "auto", exactly, is replaced.
func TestOnlyAutoIsReplaced(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	for _, model := range []string{"Auto", "AUTO", "auto ", "qwen2.5-math-7b-instruct"} {
		c := routed(t, exchange(t, ts.client, requestBody(chat(model, "Solve for y: 2y - 4 = 10"), true))[0])
		if c.GetBodyMutation() != nil {
			t.Errorf("model %q: body replaced with %s", model, c.GetBodyMutation().GetBody())
		}
		if h := headerMap(t, c.GetHeaderMutation()); h[HeaderCategory] != "math" {
			t.Errorf("model %q: headers %v", model, h)
		}
	}
}

func TestBadInputs(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	big := chat("auto", strings.Repeat("a", MaxBodyBytes))
	cases := []struct {
		name   string
		msgs   []*extprocv3.ProcessingRequest
		status int
		want   string
	}{
		{"not JSON", []*extprocv3.ProcessingRequest{requestBody("model=auto&prompt=hi", true)}, 400, "invalid JSON"},
		{"truncated JSON", []*extprocv3.ProcessingRequest{requestBody(`{"model": "auto", "messages": [`, true)}, 400, "invalid JSON"},
		{"empty body", []*extprocv3.ProcessingRequest{requestBody("", true)}, 400, "request body is empty"},
		{"not an object", []*extprocv3.ProcessingRequest{requestBody(`["hi"]`, true)}, 400, "expected a JSON object"},
		{"no messages", []*extprocv3.ProcessingRequest{requestBody(`{"model": "auto", "prompt": "hi"}`, true)}, 400, `missing field "messages"`},
		{"no user message", []*extprocv3.ProcessingRequest{requestHeaders(), requestBody(`{"model": "auto", "messages": [{"role": "system", "content": "Write Python"}]}`, true)}, 400, `no message with role "user"`},
		{"empty user message", []*extprocv3.ProcessingRequest{requestBody(chat("auto", "  "), true)}, 400, "has no text"},
		{"MESSAGES", []*extprocv3.ProcessingRequest{requestBody(`{"model": "auto", "MESSAGES": [{"role": "user", "content": "Write Python"}]}`, true)}, 400, `missing field "messages"`},
		{"Role", []*extprocv3.ProcessingRequest{requestBody(`{"messages": [{"Role": "user", "content": "Write Python"}]}`, true)}, 400, `field "role" must be a string`},
		{"Content", []*extprocv3.ProcessingRequest{requestBody(`{"messages": [{"role": "user", "Content": "Write Python"}]}`, true)}, 400, `missing field "content"`},
		{"model not a string", []*extprocv3.ProcessingRequest{requestBody(`{"model": ["auto"], "messages": [{"role": "user", "content": "x"}]}`, true)}, 400, `"model" must be a string`},
		{"over 64 KiB", []*extprocv3.ProcessingRequest{requestHeaders(), requestBody(big, true)}, 413, "exceeds 65536 bytes"},
		{"over 64 KiB in chunks", []*extprocv3.ProcessingRequest{requestBody(big[:40000], false), requestBody(big[40000:], true)}, 413, "exceeds 65536 bytes"},
		{"trailers before the end of the body", []*extprocv3.ProcessingRequest{requestBody(`{"messages": `, false),
			{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocv3.HttpTrailers{}}}}, 400, "trailers before the end"},
	}
	immediates := map[string]float64{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resps := exchange(t, ts.client, c.msgs...)
			if len(resps) != len(c.msgs) {
				t.Fatalf("%d answers to %d messages", len(resps), len(c.msgs))
			}
			msg := wantImmediate(t, resps[len(resps)-1], c.status)
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q, want one containing %q", msg, c.want)
			}
			immediates[strconv.Itoa(c.status)]++
		})
	}
	for code, n := range immediates {
		if got := metricValue(t, ts.reg, "router_extproc_immediate_responses_total", map[string]string{"status": code}); got != n {
			t.Errorf("immediate responses %s: %v, want %v", code, got, n)
		}
	}
	// The server still routes, and no limiter place is held.
	routed(t, exchange(t, ts.client, requestBody(chat("auto", "Write a unit test for my Go HTTP handler"), true))[0])
	if s := ts.limiter.Stats(); s.Running != 0 || s.Waiting != 0 {
		t.Fatalf("limiter %+v after the requests", s)
	}
}

// A message over MaxRecvMsgSize fails its stream, not the server.
func TestMessageTooLarge(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	stream, err := ts.client.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(requestBody(strings.Repeat("x", MaxRecvMsgSize), true)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("recv: %v, want ResourceExhausted", err)
	}
	routed(t, exchange(t, ts.client, requestBody(chat("auto", "How do I resolve a merge conflict in git?"), true))[0])
}

func TestChunkedBody(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, nil)
	for _, model := range []string{"gpt-4o", "auto"} {
		body := chat(model, "What is the best way to season a cast iron skillet? "+strings.Repeat("I cook a lot. ", 2000))
		third := len(body) / 3
		resps := exchange(t, ts.client, requestHeaders(),
			requestBody(body[:third], false), requestBody(body[third:2*third], false), requestBody(body[2*third:], true))
		for i, r := range resps[1:3] {
			c := r.GetRequestBody().GetResponse()
			if !c.GetBodyMutation().GetClearBody() || c.GetHeaderMutation() != nil {
				t.Fatalf("%s: chunk %d answered %v, want its chunk cleared", model, i, c)
			}
		}
		c := routed(t, resps[3])
		h := headerMap(t, c.GetHeaderMutation())
		if h[HeaderCategory] != "cooking" || h[HeaderModel] != modelOf(t, "cooking") {
			t.Fatalf("%s: headers %v", model, h)
		}
		// The last chunk is replaced by the whole body, its model replaced if "auto".
		got := c.GetBodyMutation().GetBody()
		if model == "auto" {
			var g, w map[string]interface{}
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(body), &w)
			w["model"] = modelOf(t, "cooking")
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("auto: the last chunk is answered with %.200s", got)
			}
		} else if string(got) != body {
			t.Fatalf("%s: the last chunk is answered with %d bytes, want the whole body (%d)", model, len(got), len(body))
		}
	}
	if got := metricValue(t, ts.reg, "router_extproc_requests_total", map[string]string{"phase": PhaseRequestBody}); got != 6 {
		t.Fatalf("request_body messages %v, want 6", got)
	}
}

func TestPassThrough(t *testing.T) {
	ts := start(t, nil, nil)
	resps := exchange(t, ts.client,
		requestHeaders(),
		&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocv3.HttpTrailers{}}},
		&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{
			Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":status", RawValue: []byte("200")}}}}}},
		&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{
			Body: []byte(`{"choices": []}`), EndOfStream: true}}},
		&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}},
	)
	wantContinue(t, resps[0].GetRequestHeaders().GetResponse())
	if resps[1].GetRequestTrailers() == nil || resps[1].GetRequestTrailers().GetHeaderMutation() != nil {
		t.Fatalf("request trailers answered %v", resps[1])
	}
	wantContinue(t, resps[2].GetResponseHeaders().GetResponse())
	wantContinue(t, resps[3].GetResponseBody().GetResponse())
	if resps[4].GetResponseTrailers() == nil || resps[4].GetResponseTrailers().GetHeaderMutation() != nil {
		t.Fatalf("response trailers answered %v", resps[4])
	}
	for _, phase := range []string{PhaseRequestHeaders, PhaseRequestTrailers, PhaseResponseHeaders, PhaseResponseBody, PhaseResponseTrailers} {
		if got := metricValue(t, ts.reg, "router_extproc_requests_total", map[string]string{"phase": phase}); got != 1 {
			t.Errorf("%s messages %v, want 1", phase, got)
		}
	}
}

func TestEmptyRequest(t *testing.T) {
	ts := start(t, nil, nil)
	stream, err := ts.client.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("recv: %v, want InvalidArgument", err)
	}
}

func TestLoading(t *testing.T) {
	ts := start(t, nil, nil)
	resps := exchange(t, ts.client, requestHeaders(), requestBody(chat("auto", "hi"), true))
	wantContinue(t, resps[0].GetRequestHeaders().GetResponse())
	if msg := wantImmediate(t, resps[1], 503); !strings.Contains(msg, "loading") {
		t.Fatalf("error %q", msg)
	}
	if h := headerMap(t, resps[1].GetImmediateResponse().GetHeaders()); h["retry-after"] != "1" {
		t.Fatalf("headers %v, want retry-after 1", h)
	}
}

func TestOverload(t *testing.T) {
	needModel(t)
	t.Run("no place", func(t *testing.T) {
		l := limit.New(limit.Options{Concurrency: 1, Queue: 0})
		ts := start(t, testRt, l)
		if !l.Enter() { // a request over HTTP holds the only place
			t.Fatal("no place")
		}
		resps := exchange(t, ts.client, requestHeaders(), requestBody(chat("auto", "Why is the sky blue?"), true))
		if msg := wantImmediate(t, resps[1], 503); !strings.Contains(msg, "busy") {
			t.Fatalf("error %q", msg)
		}
		if h := headerMap(t, resps[1].GetImmediateResponse().GetHeaders()); h["retry-after"] != "1" {
			t.Fatalf("headers %v", h)
		}
		l.Leave()
		routed(t, exchange(t, ts.client, requestBody(chat("auto", "Why is the sky blue?"), true))[0])
		if got := metricValue(t, ts.reg, "router_extproc_immediate_responses_total", map[string]string{"status": "503"}); got != 1 {
			t.Fatalf("503s %v", got)
		}
	})
	t.Run("no slot in time", func(t *testing.T) {
		l := limit.New(limit.Options{Concurrency: 1, Queue: 1, MaxWait: 200 * time.Millisecond})
		ts := start(t, testRt, l)
		release, holding := make(chan struct{}), make(chan struct{})
		go func() {
			l.Enter()
			defer l.Leave()
			_ = l.Do(context.Background(), func() { close(holding); <-release })
		}()
		<-holding
		resps := exchange(t, ts.client, requestBody(chat("auto", "Why is the sky blue?"), true))
		if msg := wantImmediate(t, resps[0], 503); !strings.Contains(msg, "no embedding slot came free") {
			t.Fatalf("error %q", msg)
		}
		close(release)
	})
	t.Run("a body being received holds neither a place nor a slot", func(t *testing.T) {
		l := limit.New(limit.Options{Concurrency: 1, Queue: 0})
		ts := start(t, testRt, l)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		slow, err := ts.client.Process(ctx)
		if err != nil {
			t.Fatal(err)
		}
		body := chat("auto", "Why is the sky blue?")
		if err := slow.Send(requestBody(body[:10], false)); err != nil {
			t.Fatal(err)
		}
		if resp, err := slow.Recv(); err != nil || !resp.GetRequestBody().GetResponse().GetBodyMutation().GetClearBody() {
			t.Fatalf("first chunk answered %v, %v", resp, err)
		}
		if s := l.Stats(); s != (limit.Stats{}) {
			t.Fatalf("limiter %+v while a body arrives, want nothing admitted", s)
		}
		// The only place is free for a whole body.
		routed(t, exchange(t, ts.client, requestBody(chat("auto", "Why is the sky blue?"), true))[0])
		// The end of the body takes the place: 503 at once when none is free.
		if !l.Enter() {
			t.Fatal("no place")
		}
		if err := slow.Send(requestBody(body[10:], true)); err != nil {
			t.Fatal(err)
		}
		resp, err := slow.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg := wantImmediate(t, resp, 503); !strings.Contains(msg, "busy") {
			t.Fatalf("error %q", msg)
		}
		l.Leave()
		if s := l.Stats(); s != (limit.Stats{}) {
			t.Fatalf("limiter %+v after the requests", s)
		}
	})
	t.Run("a stream that goes away while queued", func(t *testing.T) {
		l := limit.New(limit.Options{Concurrency: 1, Queue: 1})
		ts := start(t, testRt, l)
		release, holding := make(chan struct{}), make(chan struct{})
		defer close(release)
		go func() {
			l.Enter()
			defer l.Leave()
			_ = l.Do(context.Background(), func() { close(holding); <-release })
		}()
		<-holding
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := ts.client.Process(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(requestBody(chat("auto", "Why is the sky blue?"), true)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return l.Stats().Waiting == 1 })
		cancel()
		waitFor(t, func() bool { return l.Stats().Waiting == 0 })
	})
}

// Streams that sent part of a body and then nothing hold no place in the
// limiter: with 1 slot and 4 queue places, 80 of them leave a whole request
// its place.
func TestSlowBodiesDoNotHoldTheQueue(t *testing.T) {
	needModel(t)
	l := limit.New(limit.Options{Concurrency: 1, Queue: 4})
	ts := start(t, testRt, l)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const slow = 80
	for i := 0; i < slow; i++ {
		stream, err := ts.client.Process(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*extprocv3.ProcessingRequest{requestHeaders(), requestBody(`{"model": "auto", "messages": [`, false)} {
			if err := stream.Send(m); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("slow stream %d: %v", i, err)
			}
			if imm := resp.GetImmediateResponse(); imm != nil {
				t.Fatalf("slow stream %d answered %v: %s", i, imm.GetStatus().GetCode(), imm.GetBody())
			}
		}
	}
	if s := l.Stats(); s != (limit.Stats{}) {
		t.Fatalf("limiter %+v while only bodies arrive, want nothing admitted", s)
	}
	start := time.Now()
	resps := exchange(t, ts.client, requestHeaders(), requestBody(chat("auto", "How do I make homemade pizza dough?"), true))
	if h := headerMap(t, routed(t, resps[1]).GetHeaderMutation()); h[HeaderCategory] != "cooking" {
		t.Fatalf("headers %v", h)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the whole request took %s beside the slow ones", d)
	}
	cancel()
	waitFor(t, func() bool { return l.Stats() == limit.Stats{} })
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentStreams(t *testing.T) {
	needModel(t)
	ts := start(t, testRt, limit.New(limit.Options{Concurrency: 2, Queue: 64}))
	prompts := []struct{ prompt, category string }{
		{"How do I undo the last git commit?", "coding"},
		{"Is 97 a prime number?", "math"},
		{"How do I make crispy roast potatoes?", "cooking"},
		{"What is the largest ocean on Earth?", "general"},
	}
	const streams = 24
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := 0; i < streams; i++ {
		p := prompts[i%len(prompts)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			stream, err := ts.client.Process(ctx)
			if err != nil {
				errs <- err
				return
			}
			var last *extprocv3.ProcessingResponse
			for _, m := range []*extprocv3.ProcessingRequest{requestHeaders(), requestBody(chat("auto", p.prompt), true)} {
				if err := stream.Send(m); err != nil {
					errs <- err
					return
				}
				if last, err = stream.Recv(); err != nil {
					errs <- err
					return
				}
			}
			_ = stream.CloseSend()
			if _, err := stream.Recv(); err != io.EOF {
				errs <- fmt.Errorf("stream end: %v", err)
				return
			}
			var h = map[string]string{}
			for _, o := range last.GetRequestBody().GetResponse().GetHeaderMutation().GetSetHeaders() {
				h[o.GetHeader().GetKey()] = string(o.GetHeader().GetRawValue())
			}
			var body struct{ Model string }
			_ = json.Unmarshal(last.GetRequestBody().GetResponse().GetBodyMutation().GetBody(), &body)
			if h[HeaderCategory] != p.category || h[HeaderModel] != modelOf(t, p.category) || body.Model != h[HeaderModel] {
				errs <- fmt.Errorf("%q: headers %v, body model %q, want %s", p.prompt, h, body.Model, p.category)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := metricValue(t, ts.reg, "router_extproc_requests_total", map[string]string{"phase": PhaseRequestBody}); got != streams {
		t.Fatalf("request_body messages %v, want %d", got, streams)
	}
	var routes float64
	for _, p := range prompts {
		routes += metricValue(t, ts.reg, "router_routes_total", map[string]string{"category": p.category})
	}
	if routes != streams {
		t.Fatalf("routes %v, want %d", routes, streams)
	}
}

type panicRouter struct{}

func (panicRouter) Route(string) (router.Result, error) { panic("boom") }

type failingRouter struct{}

func (failingRouter) Route(string) (router.Result, error) {
	return router.Result{}, errors.New("embedding failed")
}

func TestRouterFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		rt   Router
		want string
	}{
		{"panic", panicRouter{}, "internal server error"},
		{"error", failingRouter{}, "routing failed: embedding failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := limit.New(limit.Options{Concurrency: 1, Queue: 0})
			ts := start(t, c.rt, l)
			for i := 0; i < 2; i++ { // the server survives, and frees the place
				resps := exchange(t, ts.client, requestHeaders(), requestBody(chat("auto", "hi"), true))
				if msg := wantImmediate(t, resps[1], 500); msg != c.want {
					t.Fatalf("error %q, want %q", msg, c.want)
				}
			}
			if s := l.Stats(); s.Running != 0 || s.Waiting != 0 {
				t.Fatalf("limiter %+v", s)
			}
		})
	}
}

// serveAndStop serves srv on loopback with Serve, opens a stream whose
// request headers are answered, then cancels Serve's context: the stream is
// open while the server drains. Serve's result arrives on served.
func serveAndStop(t *testing.T, srv *Server, timeout time.Duration) (addr string, stream extprocv3.ExternalProcessor_ProcessClient, served chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served = make(chan error, 1)
	go func() { served <- Serve(ctx, ln, NewGRPCServer(srv), timeout) }()
	conn := dial(t, ln.Addr().String())
	t.Cleanup(func() { conn.Close() })
	stream, err = extprocv3.NewExternalProcessorClient(conn).Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(requestHeaders()); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	return ln.Addr().String(), stream, served
}

// Serve drains: an open stream finishes, new connections are refused.
func TestServeDrains(t *testing.T) {
	needModel(t)
	srv := New(metrics.New(), limit.New(limit.Options{Concurrency: 1, Queue: 4}), quietLogs)
	srv.SetRouter(testRt)
	addr, stream, served := serveAndStop(t, srv, 30*time.Second)
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a stream open", err)
	default:
	}
	if err := stream.Send(requestBody(chat("auto", "Is 97 a prime number?"), true)); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if h := headerMap(t, routed(t, resp).GetHeaderMutation()); h[HeaderCategory] != "math" {
		t.Fatalf("headers %v", h)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("stream end: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// Streams still open after the shutdown timeout are cut.
func TestServeTimeout(t *testing.T) {
	srv := New(metrics.New(), limit.New(limit.Options{Concurrency: 1}), quietLogs)
	_, stream, served := serveAndStop(t, srv, 200*time.Millisecond)
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "were cut") {
			t.Fatalf("Serve: %v, want the streams cut", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("the cut stream goes on")
	}
}
