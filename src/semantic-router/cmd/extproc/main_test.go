package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
)

var exampleConfig, _ = filepath.Abs(filepath.Join("..", "..", "config", "config.json"))

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeModelDir passes config validation but cannot be loaded.
func fakeModelDir(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range config.ModelFiles {
		writeFile(t, dir, f, "not a model")
	}
	return dir
}

// foreignSafetensors is a valid safetensors file whose one tensor is not a
// BERT weight: the model loads up to the weights, then fails in candle.
func foreignSafetensors() string {
	header := `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	_ = binary.Write(&b, binary.LittleEndian, float32(1))
	return b.String()
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestRunVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, env(nil), &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if got := out.String(); got != "extproc dev\n" {
		t.Fatalf("--version printed %q", got)
	}
}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	model := fakeModelDir(t)
	good := `{"model_path": %q, "default_model": "m", "min_score": 0.2,
	  "categories": [{"name": "a", "model": "ma", "examples": ["x"]}]}`
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing file", []string{"--config", filepath.Join(dir, "absent.json")}, nil, "cannot read config"},
		{"default path absent", nil, nil, "config/config.json"},
		{"bad JSON", []string{"--config", writeFile(t, dir, "bad.json", `{"model_path": `)}, nil, "invalid JSON"},
		{"unknown field", []string{"--config", writeFile(t, dir, "unk.json", `{"modelpath": "x"}`)}, nil, `unknown field "modelpath"`},
		{"no categories", []string{"--config", writeFile(t, dir, "nocat.json", fmt.Sprintf(`{"model_path": %q, "default_model": "m", "categories": []}`, model))}, nil, "no categories"},
		{"min_score", []string{"--config", writeFile(t, dir, "min.json", fmt.Sprintf(`{"model_path": %q, "default_model": "m", "min_score": 3, "categories": [{"name": "a", "model": "b", "examples": ["c"]}]}`, model))}, nil, "min_score 3 is outside [-1, 1]"},
		{"duplicate", []string{"--config", writeFile(t, dir, "dup.json", fmt.Sprintf(`{"model_path": %q, "default_model": "m", "categories": [{"name": "a", "model": "b", "examples": ["c"]}, {"name": "a", "model": "b", "examples": ["c"]}]}`, model))}, nil, `duplicate category name "a"`},
		{"missing model dir", []string{"--config", writeFile(t, dir, "nomodel.json", fmt.Sprintf(good, filepath.Join(dir, "no-model")))}, nil, "directory does not exist"},
		{"ROUTER_CONFIG", nil, map[string]string{"ROUTER_CONFIG": writeFile(t, dir, "env.json", `[]`)}, "env.json"},
		{"--config beats ROUTER_CONFIG", []string{"--config", writeFile(t, dir, "flag.json", `{`)}, map[string]string{"ROUTER_CONFIG": filepath.Join(dir, "env.json")}, "flag.json"},
		{"CANDLE_MODEL_DIR overrides model_path", []string{"--config", writeFile(t, dir, "ok.json", fmt.Sprintf(good, model))}, map[string]string{"CANDLE_MODEL_DIR": filepath.Join(dir, "env-model")}, "env-model"},
		{"unexpected argument", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"--max-queue not a number", []string{"--config", writeFile(t, dir, "q.json", fmt.Sprintf(good, model)), "--max-queue", "lots"}, nil, `--max-queue: "lots" is not an integer`},
		{"ROUTER_MAX_CONCURRENT not a number", []string{"--config", writeFile(t, dir, "c.json", fmt.Sprintf(good, model))}, map[string]string{"ROUTER_MAX_CONCURRENT": "2x"}, `$ROUTER_MAX_CONCURRENT: "2x" is not an integer`},
		{"ROUTER_MAX_CONCURRENT negative", []string{"--config", writeFile(t, dir, "n.json", fmt.Sprintf(good, model))}, map[string]string{"ROUTER_MAX_CONCURRENT": "-1"}, "max_concurrent -1 is outside"},
		{"--max-queue beats ROUTER_MAX_QUEUE", []string{"--config", writeFile(t, dir, "b.json", fmt.Sprintf(good, model)), "--max-queue", "-5"}, map[string]string{"ROUTER_MAX_QUEUE": "3"}, "max_queue -5 is outside"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(c.args, env(c.env), &out, &errb)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errb.String())
			}
			lines := nonEmptyLines(errb.String())
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want 1: %q", len(lines), errb.String())
			}
			if !strings.Contains(lines[0], c.want) {
				t.Fatalf("stderr %q does not mention %q", lines[0], c.want)
			}
		})
	}
}

func TestRunBadFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--nope"}, env(nil), &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "-nope") {
		t.Fatalf("stderr %q", errb.String())
	}
}

// TestRunGRPCListen checks where the gRPC address comes from (flag, then
// environment, then file) with addresses in use: start-up stops there,
// before the model loads, with one error line.
func TestRunGRPCListen(t *testing.T) {
	var busy [3]string
	for i := range busy {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		busy[i] = ln.Addr().String()
	}
	cfg := writeFile(t, t.TempDir(), "grpc.json", fmt.Sprintf(`{"model_path": %q, "grpc_listen": %q, "default_model": "m",
	  "categories": [{"name": "a", "model": "ma", "examples": ["x"]}]}`, fakeModelDir(t), busy[0]))
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"file", nil, nil, busy[0]},
		{"ROUTER_GRPC_LISTEN beats the file", nil, map[string]string{"ROUTER_GRPC_LISTEN": busy[1]}, busy[1]},
		{"--grpc-listen beats ROUTER_GRPC_LISTEN", []string{"--grpc-listen", busy[2]}, map[string]string{"ROUTER_GRPC_LISTEN": busy[1]}, busy[2]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--config", cfg, "--listen", "127.0.0.1:0"}, c.args...)
			if code := run(args, env(c.env), &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errb.String())
			}
			lines := nonEmptyLines(errb.String())
			if len(lines) != 1 || !strings.Contains(lines[0], "grpc: cannot listen on "+c.want) {
				t.Fatalf("stderr %q, want one line about %s", errb.String(), c.want)
			}
		})
	}
}

// TestExtproc builds the binary and runs it as a user would.
func TestExtproc(t *testing.T) {
	modelDir := os.Getenv("CANDLE_MODEL_DIR")
	if modelDir == "" {
		t.Fatal("CANDLE_MODEL_DIR is not set: it must name the all-MiniLM-L6-v2 directory")
	}
	bin := filepath.Join(t.TempDir(), "extproc")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	build := exec.Command(goTool, "build", "-o", bin, "-ldflags", "-X main.version=9.8.7-test", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatalf("--version: %v", err)
		}
		if string(out) != "extproc 9.8.7-test\n" {
			t.Fatalf("--version printed %q", out)
		}
	})

	t.Run("bad config exits 2", func(t *testing.T) {
		bad := writeFile(t, t.TempDir(), "bad.json", `{"model_path": "x", "categories": [}`)
		cmd := exec.Command(bin, "--config", bad)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("exit: %v, want status 2", err)
		}
		lines := nonEmptyLines(stderr.String())
		if len(lines) != 1 || !strings.Contains(lines[0], "invalid JSON") {
			t.Fatalf("stderr %q, want one line about invalid JSON", stderr.String())
		}
	})

	// Each start-up failure: exit 2 and one error line (beside the
	// informational "listening on" line, printed before the model loads).
	startupFailure := func(t *testing.T, cmd *exec.Cmd, want string) {
		t.Helper()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := runWithTimeout(cmd, 60*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("exit: %v, want status 2; stderr:\n%s", err, stderr.String())
		}
		var errLines []string
		for _, l := range nonEmptyLines(stderr.String()) {
			if !listeningRE.MatchString(l) {
				errLines = append(errLines, l)
			}
		}
		if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
			t.Fatalf("want one error line about %q, stderr:\n%s", want, stderr.String())
		}
	}

	// The example config's grpc_listen is a fixed port: the tests use any.
	anyPorts := []string{"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"}

	t.Run("model load failure exits 2 in one line", func(t *testing.T) {
		cmd := exec.Command(bin, append([]string{"--config", exampleConfig}, anyPorts...)...)
		cmd.Env = append(os.Environ(), "CANDLE_MODEL_DIR="+fakeModelDir(t))
		startupFailure(t, cmd, "cannot load the model")
	})

	t.Run("foreign weights with RUST_BACKTRACE=1 exit 2 in one line", func(t *testing.T) {
		// candle prints a backtrace inside its error text when backtraces are on.
		dir := t.TempDir()
		for _, f := range []string{"config.json", "tokenizer.json"} {
			data, err := os.ReadFile(filepath.Join(modelDir, f))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, f, string(data))
		}
		writeFile(t, dir, "model.safetensors", foreignSafetensors())
		cmd := exec.Command(bin, append([]string{"--config", exampleConfig}, anyPorts...)...)
		cmd.Env = append(os.Environ(), "CANDLE_MODEL_DIR="+dir, "RUST_BACKTRACE=1", "RUST_LIB_BACKTRACE=1")
		startupFailure(t, cmd, "cannot find tensor")
	})

	t.Run("address in use exits 2 in one line", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cmd := exec.Command(bin, "--config", exampleConfig, "--listen", ln.Addr().String(), "--grpc-listen", "127.0.0.1:0")
		startupFailure(t, cmd, "cannot listen on "+ln.Addr().String())
	})

	t.Run("gRPC address in use exits 2 in one line", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cmd := exec.Command(bin, "--config", exampleConfig, "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "ROUTER_GRPC_LISTEN="+ln.Addr().String())
		startupFailure(t, cmd, "grpc: cannot listen on "+ln.Addr().String())
	})

	t.Run("serve with flags, SIGTERM", func(t *testing.T) {
		cmd := exec.Command(bin, append([]string{"--config", exampleConfig}, anyPorts...)...)
		// --listen and --grpc-listen win
		cmd.Env = append(os.Environ(), "ROUTER_LISTEN=127.0.0.1:1", "ROUTER_GRPC_LISTEN=127.0.0.1:1", "DASHBOARD_PROMETHEUS_URL=")
		serveAndStop(t, cmd, syscall.SIGTERM, "", true)
	})

	t.Run("serve without gRPC", func(t *testing.T) {
		var m map[string]interface{}
		data, err := os.ReadFile(exampleConfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "grpc_listen")
		data, _ = json.Marshal(m)
		cfg := writeFile(t, t.TempDir(), "no-grpc.json", string(data))
		cmd := exec.Command(bin, "--config", cfg, "--listen", "127.0.0.1:0")
		logs := serveAndStop(t, cmd, syscall.SIGTERM, "", false)
		if strings.Contains(logs, "grpc") {
			t.Fatalf("gRPC without grpc_listen:\n%s", logs)
		}
	})

	t.Run("SIGTERM drains an open ExtProc stream", func(t *testing.T) {
		testDrain(t, exec.Command(bin, append([]string{"--config", exampleConfig}, anyPorts...)...))
	})

	t.Run("serve with env, SIGINT", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Dir = t.TempDir() // no config/config.json here: ROUTER_CONFIG is used
		const prom = "http://localhost:9090/graph"
		cmd.Env = append(os.Environ(), "ROUTER_CONFIG="+exampleConfig, "ROUTER_LISTEN=127.0.0.1:0", "ROUTER_GRPC_LISTEN=127.0.0.1:0",
			"DASHBOARD_PROMETHEUS_URL="+prom, "ROUTER_MAX_CONCURRENT=1", "ROUTER_MAX_QUEUE=5")
		logs := serveAndStop(t, cmd, syscall.SIGINT, prom, true)
		if want := "1 prompts embedded at once, 5 queued, prompts cut to 256 tokens"; !strings.Contains(logs, want) {
			t.Fatalf("logs lack %q:\n%s", want, logs)
		}
	})
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("timed out after %s", d)
	}
}

// listeningRE matches both address lines (HTTP, then gRPC).
var (
	listeningRE     = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	httpListeningRE = regexp.MustCompile(`extproc: listening on (127\.0\.0\.1:\d+)`)
	grpcListeningRE = regexp.MustCompile(`extproc: grpc listening on (127\.0\.0\.1:\d+)`)
)

// proc is a running extproc binary.
type proc struct {
	cmd      *exec.Cmd
	addr     string // HTTP
	grpcAddr string // "" without gRPC
	exited   chan error
	logMu    sync.Mutex
	logs     strings.Builder
}

func (r *proc) getLogs() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.logs.String()
}

// startRouter starts cmd and waits for its addresses (the gRPC one if
// wantGRPC) and for /healthz 200. The process is killed when the test ends
// if it still runs.
func startRouter(t *testing.T, cmd *exec.Cmd, wantGRPC bool) *proc {
	t.Helper()
	r := &proc{cmd: cmd, exited: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	addrc, grpcc := make(chan string, 1), make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			r.logMu.Lock()
			r.logs.WriteString(line + "\n")
			r.logMu.Unlock()
			for re, c := range map[*regexp.Regexp]chan string{httpListeningRE: addrc, grpcListeningRE: grpcc} {
				if m := re.FindStringSubmatch(line); m != nil {
					select {
					case c <- m[1]:
					default:
					}
				}
			}
		}
	}()
	go func() {
		<-scanned // read all of stderr before Wait closes the pipe
		r.exited <- cmd.Wait()
	}()

	for _, want := range []struct {
		name string
		c    chan string
		dst  *string
		skip bool
	}{{"listening on", addrc, &r.addr, false}, {"grpc listening on", grpcc, &r.grpcAddr, !wantGRPC}} {
		if want.skip {
			continue
		}
		select {
		case *want.dst = <-want.c:
		case err := <-r.exited:
			t.Fatalf("exited before listening: %v\n%s", err, r.getLogs())
		case <-time.After(30 * time.Second):
			t.Fatalf("no '%s' line within 30s:\n%s", want.name, r.getLogs())
		}
	}

	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get("http://" + r.addr + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if strings.TrimSpace(string(body)) != `{"status":"ok"}` {
					t.Fatalf("healthz body %q", body)
				}
				break
			}
			if resp.StatusCode != 503 {
				t.Fatalf("healthz status %d: %s", resp.StatusCode, body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz not 200 within 90s (last error %v):\n%s", err, r.getLogs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return r
}

// stop sends sig and expects exit status 0 and the shutdown message.
func (r *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	r.wait(t, sig)
}

func (r *proc) wait(t *testing.T, sig os.Signal) {
	t.Helper()
	select {
	case err := <-r.exited:
		if err != nil {
			t.Fatalf("exit after %v: %v\n%s", sig, err, r.getLogs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after %v:\n%s", sig, r.getLogs())
	}
	if !strings.Contains(r.getLogs(), "shut down") {
		t.Fatalf("no shutdown message:\n%s", r.getLogs())
	}
}

// serveAndStop starts cmd, waits for /healthz, routes one prompt (and one
// chat request over ExtProc if withGRPC), reads /metrics, /v1/routes and
// /dashboard (with a Prometheus link to prom, if not empty), sends sig and
// expects exit status 0. It returns the logs.
func serveAndStop(t *testing.T, cmd *exec.Cmd, sig os.Signal, prom string, withGRPC bool) string {
	t.Helper()
	r := startRouter(t, cmd, withGRPC)
	addr := r.addr
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}

	resp, err := client.Post(base+"/v1/route", "application/json", strings.NewReader(`{"prompt": "My C++ program crashes with a segmentation fault when I free memory twice"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res struct {
		Category string  `json:"category"`
		Model    string  `json:"model"`
		Score    float64 `json:"score"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil || res.Category != "coding" || res.Model == "" || res.Score <= 0 {
		t.Fatalf("route: %d %s", resp.StatusCode, body)
	}

	resp, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `router_routes_total{category="coding"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}

	cfg, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	wantRoutes, codingModel, mathModel := `{"routes":[`, "", ""
	for _, c := range cfg.Categories {
		wantRoutes += fmt.Sprintf(`{"category":%q,"model":%q},`, c.Name, c.Model)
		switch c.Name {
		case "coding":
			codingModel = c.Model
		case "math":
			mathModel = c.Model
		}
	}
	wantRoutes += fmt.Sprintf(`{"category":"default","model":%q}]}`, cfg.DefaultModel)

	if withGRPC {
		// The same router over ExtProc, sharing the metrics.
		stream, done := openStream(t, r.grpcAddr)
		defer done()
		h, body := routeStream(t, stream, `{"model": "auto", "messages": [{"role": "user", "content": "Solve for x: 5x - 3 = 12"}]}`)
		if h["x-vsr-selected-category"] != "math" || h["x-vsr-selected-model"] != mathModel || !strings.Contains(body, `"model":"`+mathModel+`"`) {
			t.Fatalf("ExtProc: headers %v, body %s", h, body)
		}
		endStream(t, stream)
		resp, err = client.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body2, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`router_routes_total{category="math"} 1`, `router_extproc_requests_total{phase="request_body"} 1`} {
			if !strings.Contains(string(body2), want) {
				t.Fatalf("metrics lack %s:\n%s", want, body2)
			}
		}
	}

	resp, err = client.Get(base + "/v1/routes")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != wantRoutes {
		t.Fatalf("/v1/routes: %d %s\nwant %s", resp.StatusCode, body, wantRoutes)
	}

	resp, err = client.Get(base + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(page, "<title>semantic-router dashboard</title>") ||
		!strings.Contains(page, `<tr><td>coding</td><td>`+codingModel+`</td><td class="n">1</td></tr>`) ||
		!strings.Contains(page, `class="ready">ready<`) {
		t.Fatalf("/dashboard: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	if link := `href="` + prom + `">Prometheus</a>`; prom != "" && !strings.Contains(page, link) {
		t.Fatalf("/dashboard lacks %s:\n%s", link, page)
	}
	if prom == "" && strings.Contains(page, "Prometheus") {
		t.Fatalf("/dashboard has a Prometheus link without DASHBOARD_PROMETHEUS_URL:\n%s", page)
	}

	r.stop(t, sig)
	t.Logf("logs:\n%s", r.getLogs())
	return r.getLogs()
}

// openStream opens an ExtProc stream to addr; done closes the connection.
func openStream(t *testing.T, addr string) (extprocv3.ExternalProcessor_ProcessClient, func()) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream, func() { cancel(); conn.Close() }
}

// sendHeaders sends request headers and expects CONTINUE.
func sendHeaders(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient) {
	t.Helper()
	err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{}}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRequestHeaders().GetResponse() == nil {
		t.Fatalf("request headers answered %v", resp)
	}
}

// routeStream sends request headers and a body and returns the headers set
// and the body replaced by the answer.
func routeStream(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient, body string) (map[string]string, string) {
	t.Helper()
	sendHeaders(t, stream)
	return sendBody(t, stream, body)
}

func sendBody(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient, body string) (map[string]string, string) {
	t.Helper()
	err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	c := resp.GetRequestBody().GetResponse()
	if c == nil {
		t.Fatalf("request body answered %v", resp)
	}
	h := map[string]string{}
	for _, o := range c.GetHeaderMutation().GetSetHeaders() {
		h[o.GetHeader().GetKey()] = string(o.GetHeader().GetRawValue())
	}
	return h, string(c.GetBodyMutation().GetBody())
}

// endStream closes the sending side and expects the stream to end cleanly.
func endStream(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient) {
	t.Helper()
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != io.EOF {
		t.Fatalf("stream end: %v %v", resp, err)
	}
}

// testDrain starts cmd, opens an ExtProc stream, sends SIGTERM, and expects
// the stream to be served to its end while both listeners refuse new
// connections, then exit status 0.
func testDrain(t *testing.T, cmd *exec.Cmd) {
	r := startRouter(t, cmd, true)
	stream, done := openStream(t, r.grpcAddr)
	defer done()
	sendHeaders(t, stream)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range []string{r.addr, r.grpcAddr} {
		for {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s still accepts connections 10s after SIGTERM:\n%s", addr, r.getLogs())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	select {
	case err := <-r.exited:
		t.Fatalf("exited with a stream open: %v\n%s", err, r.getLogs())
	default:
	}
	h, body := sendBody(t, stream, `{"model": "auto", "messages": [{"role": "user", "content": "How do I reverse a string in Go?"}]}`)
	if h["x-vsr-selected-category"] != "coding" || !strings.Contains(body, `"model":"`+h["x-vsr-selected-model"]+`"`) {
		t.Fatalf("draining: headers %v, body %s", h, body)
	}
	endStream(t, stream)
	r.wait(t, syscall.SIGTERM)
	if !strings.Contains(r.getLogs(), "terminated: shutting down") {
		t.Fatalf("no signal message:\n%s", r.getLogs())
	}
	t.Logf("logs:\n%s", r.getLogs())
}
