package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/extproc"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/limit"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/testmodel"
)

// serve starts the router's ext_proc service with the real model on
// loopback and returns its address.
func serve(t *testing.T) string {
	t.Helper()
	_, rt, err := testmodel.Load(filepath.Join("..", "..", "config", "config.json"))
	if err != nil {
		t.Fatalf("model not loaded: %v", err)
	}
	s := extproc.New(metrics.New(), limit.New(limit.Options{Concurrency: 2, Queue: 64}), log.New(io.Discard, "", 0))
	s.SetRouter(rt)
	gs := extproc.NewGRPCServer(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

func TestRouteAndLoadThroughARealRouter(t *testing.T) {
	addr := serve(t)
	var out, errs bytes.Buffer
	if code := run([]string{"--addr", addr, "--expect-category", "coding"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var a Answer
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if a.Category != "coding" || a.Model != "qwen2.5-coder-7b-instruct" || a.BodyModel != a.Model || a.Status != 0 {
		t.Fatalf("the default prompt routed to %+v", a)
	}

	out.Reset()
	code := run([]string{"--addr", addr, "--model", "gpt-4", "--prompt", "What is the capital of France?", "--expect-category", "coding"}, &out, &errs)
	if code != 1 || !strings.Contains(out.String(), `"body_model":"gpt-4"`) {
		t.Fatalf("an explicit model must be kept and the wrong category exit 1: exit %d, %s", code, out.String())
	}

	prompts := filepath.Join(t.TempDir(), "prompts.txt")
	if err := os.WriteFile(prompts, []byte("How do I sort a list in Python?\nWhat is 7 times 8?\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"--addr", addr, "--load", "--prompts", prompts, "--concurrency", "4", "--requests", "20"}, &out, &errs); code != 0 {
		t.Fatalf("--load exit %d: %s %s", code, out.String(), errs.String())
	}
	var load struct {
		Requests, Errors int
		OK               []float64 `json:"ok_ms"`
	}
	if err := json.Unmarshal(out.Bytes(), &load); err != nil || load.Requests != 20 || load.Errors != 0 || len(load.OK) != 20 {
		t.Fatalf("--load printed %s (%v)", out.String(), err)
	}
}

func TestBadFlagsAndAnUnreachableRouter(t *testing.T) {
	var out, errs bytes.Buffer
	for _, args := range [][]string{
		{},
		{"--addr", "127.0.0.1:1", "extra"},
		{"--addr", "127.0.0.1:1", "--load"},
		{"--addr", "127.0.0.1:1", "--wait", "300ms"},
	} {
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
