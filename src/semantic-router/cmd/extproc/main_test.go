package main

import (
	"bufio"
	"bytes"
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

	t.Run("model load failure exits 2 in one line", func(t *testing.T) {
		cmd := exec.Command(bin, "--config", exampleConfig, "--listen", "127.0.0.1:0")
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
		cmd := exec.Command(bin, "--config", exampleConfig, "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "CANDLE_MODEL_DIR="+dir, "RUST_BACKTRACE=1", "RUST_LIB_BACKTRACE=1")
		startupFailure(t, cmd, "cannot find tensor")
	})

	t.Run("address in use exits 2 in one line", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cmd := exec.Command(bin, "--config", exampleConfig, "--listen", ln.Addr().String())
		startupFailure(t, cmd, "cannot listen on "+ln.Addr().String())
	})

	t.Run("serve with flags, SIGTERM", func(t *testing.T) {
		cmd := exec.Command(bin, "--config", exampleConfig, "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "ROUTER_LISTEN=127.0.0.1:1", "DASHBOARD_PROMETHEUS_URL=") // --listen wins
		serveAndStop(t, cmd, syscall.SIGTERM, "")
	})

	t.Run("serve with env, SIGINT", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Dir = t.TempDir() // no config/config.json here: ROUTER_CONFIG is used
		const prom = "http://localhost:9090/graph"
		cmd.Env = append(os.Environ(), "ROUTER_CONFIG="+exampleConfig, "ROUTER_LISTEN=127.0.0.1:0", "DASHBOARD_PROMETHEUS_URL="+prom,
			"ROUTER_MAX_CONCURRENT=1", "ROUTER_MAX_QUEUE=5")
		logs := serveAndStop(t, cmd, syscall.SIGINT, prom)
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

var listeningRE = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// serveAndStop starts cmd, waits for /healthz, routes one prompt, reads
// /metrics, /v1/routes and /dashboard (with a Prometheus link to prom, if
// not empty), sends sig and expects exit status 0. It returns the logs.
func serveAndStop(t *testing.T, cmd *exec.Cmd, sig os.Signal, prom string) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var logMu sync.Mutex
	var logs strings.Builder
	addrc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logs.WriteString(line + "\n")
			logMu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned // read all of stderr before Wait closes the pipe
		exited <- cmd.Wait()
	}()
	getLogs := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String()
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		t.Fatalf("exited before listening: %v\n%s", err, getLogs())
	case <-time.After(30 * time.Second):
		t.Fatalf("no 'listening on' line within 30s:\n%s", getLogs())
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}

	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
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
			t.Fatalf("healthz not 200 within 90s (last error %v):\n%s", err, getLogs())
		}
		time.Sleep(100 * time.Millisecond)
	}

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
	wantRoutes, codingModel := `{"routes":[`, ""
	for _, c := range cfg.Categories {
		wantRoutes += fmt.Sprintf(`{"category":%q,"model":%q},`, c.Name, c.Model)
		if c.Name == "coding" {
			codingModel = c.Model
		}
	}
	wantRoutes += fmt.Sprintf(`{"category":"default","model":%q}]}`, cfg.DefaultModel)
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

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after %v: %v\n%s", sig, err, getLogs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after %v:\n%s", sig, getLogs())
	}
	if !strings.Contains(getLogs(), "shut down") {
		t.Fatalf("no shutdown message:\n%s", getLogs())
	}
	t.Logf("logs:\n%s", getLogs())
	return getLogs()
}
