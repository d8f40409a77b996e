// Command extproc-probe is an Envoy ext_proc client built on Envoy's own
// protos (go-control-plane): it plays Envoy's part for one HTTP request,
// sending request headers, then an OpenAI chat completions body, and reads
// the router's answer. xtask uses it to route a prompt through a router's
// --grpc-listen (in the dist suite and in every image of the e2e) and to
// load it (bench router).
//
//	extproc-probe --addr HOST:PORT [--prompt P] [--model M] [--expect-category C] [--wait D]
//	extproc-probe --addr HOST:PORT --load --prompts FILE [--concurrency N] [--requests N]
//
// One route prints a JSON object: the category, model and confidence
// headers the router set, the model in the body Envoy would forward, and
// the immediate response status, if any. With --expect-category it exits 1
// when the category differs. --load sends --requests streams from
// --concurrency clients, each a prompt of FILE (one per line, in turn), and
// prints {"requests", "errors", "p50_ms", "p99_ms", "max_ms", "ok_ms"}
// (ok_ms: the latency of each request that routed, sorted). Exit status
// 2 on bad flags or when the router cannot be reached within --wait.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Answer is what the router did with one request.
type Answer struct {
	Category   string `json:"category"`
	Model      string `json:"model"`
	Confidence string `json:"confidence"`
	// BodyModel is the "model" of the body Envoy forwards: the rewritten
	// one, or the one sent when the router left the body alone.
	BodyModel string `json:"body_model"`
	// Status of an immediate response (0: none, the request goes on).
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("extproc-probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "the router's ext_proc address (its --grpc-listen)")
	prompt := fs.String("prompt", "How do I fix a segmentation fault in my C program?", "the user message")
	model := fs.String("model", "auto", "the model the request names")
	expect := fs.String("expect-category", "", "exit 1 unless the router picks this category")
	wait := fs.Duration("wait", 30*time.Second, "how long to retry until the router answers")
	load := fs.Bool("load", false, "load the router instead of one route")
	prompts := fs.String("prompts", "", "with --load: a file of prompts, one per line")
	concurrency := fs.Int("concurrency", 32, "with --load: concurrent clients (streams)")
	requests := fs.Int("requests", 2000, "with --load: requests in all")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "extproc-probe: --addr HOST:PORT is required, and no arguments")
		return 2
	}
	if *load && (*prompts == "" || *concurrency < 1 || *requests < 1) {
		fmt.Fprintln(stderr, "extproc-probe: --load needs --prompts FILE, --concurrency >= 1 and --requests >= 1")
		return 2
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(stderr, "extproc-probe: %v\n", err)
		return 2
	}
	defer conn.Close()
	client := extprocv3.NewExternalProcessorClient(conn)

	// The first route doubles as the readiness check: the router answers
	// 503 until its model is loaded.
	first, err := ready(client, *prompt, *model, *wait)
	if err != nil {
		fmt.Fprintf(stderr, "extproc-probe: %s: %v\n", *addr, err)
		return 2
	}
	if *load {
		return runLoad(client, *prompts, *concurrency, *requests, stdout, stderr)
	}
	out, _ := json.Marshal(first)
	fmt.Fprintln(stdout, string(out))
	if *expect != "" && first.Category != *expect {
		fmt.Fprintf(stderr, "extproc-probe: %q went to category %q, want %q\n", *prompt, first.Category, *expect)
		return 1
	}
	return 0
}

// ready routes until the router answers without a 503 or an RPC error, or
// until wait has passed.
func ready(client extprocv3.ExternalProcessorClient, prompt, model string, wait time.Duration) (Answer, error) {
	deadline := time.Now().Add(wait)
	for {
		a, err := Route(context.Background(), client, prompt, model)
		if err == nil && a.Status != 503 {
			return a, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still 503 after %s: %s", wait, a.Error)
			}
			return a, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Route plays Envoy for one request: headers, then the whole body.
func Route(ctx context.Context, client extprocv3.ExternalProcessorClient, prompt, model string) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	stream, err := client.Process(ctx)
	if err != nil {
		return Answer{}, err
	}
	body, err := json.Marshal(map[string]any{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
	})
	if err != nil {
		return Answer{}, err
	}
	headers := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte("POST")},
		{Key: ":path", RawValue: []byte("/v1/chat/completions")},
		{Key: "content-type", RawValue: []byte("application/json")},
		{Key: "content-length", RawValue: []byte(strconv.Itoa(len(body)))},
	}}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: headers},
	}}); err != nil {
		return Answer{}, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return Answer{}, fmt.Errorf("request_headers: %w", err)
	}
	if a, done := immediate(resp); done {
		return a, nil
	}
	if resp.GetRequestHeaders() == nil {
		return Answer{}, fmt.Errorf("request_headers answered with %T", resp.GetResponse())
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true},
	}}); err != nil {
		return Answer{}, err
	}
	resp, err = stream.Recv()
	if err != nil {
		return Answer{}, fmt.Errorf("request_body: %w", err)
	}
	_ = stream.CloseSend()
	if a, done := immediate(resp); done {
		return a, nil
	}
	common := resp.GetRequestBody().GetResponse()
	if resp.GetRequestBody() == nil {
		return Answer{}, fmt.Errorf("request_body answered with %T", resp.GetResponse())
	}
	a := Answer{BodyModel: model}
	for _, h := range common.GetHeaderMutation().GetSetHeaders() {
		v := string(h.GetHeader().GetRawValue())
		if v == "" {
			v = h.GetHeader().GetValue()
		}
		switch strings.ToLower(h.GetHeader().GetKey()) {
		case "x-vsr-selected-category":
			a.Category = v
		case "x-vsr-selected-model":
			a.Model = v
		case "x-vsr-selected-confidence":
			a.Confidence = v
		}
	}
	if b := common.GetBodyMutation().GetBody(); b != nil {
		var sent struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(b, &sent); err != nil {
			return a, fmt.Errorf("the rewritten body is not JSON: %w", err)
		}
		a.BodyModel = sent.Model
	}
	if a.Category == "" || a.Model == "" {
		return a, errors.New("the router set no x-vsr-selected-* headers")
	}
	return a, nil
}

func immediate(resp *extprocv3.ProcessingResponse) (Answer, bool) {
	im := resp.GetImmediateResponse()
	if im == nil {
		return Answer{}, false
	}
	return Answer{Status: int(im.GetStatus().GetCode()), Error: string(im.GetBody())}, true
}

func runLoad(client extprocv3.ExternalProcessorClient, file string, concurrency, requests int, stdout, stderr io.Writer) int {
	list, err := readPrompts(file)
	if err != nil {
		fmt.Fprintf(stderr, "extproc-probe: %v\n", err)
		return 2
	}
	var next, errs atomic.Int64
	latencies := make([]time.Duration, requests)
	failed := make([]bool, requests)
	var wg sync.WaitGroup
	for c := 0; c < concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= requests {
					return
				}
				start := time.Now()
				a, err := Route(context.Background(), client, list[i%len(list)], "auto")
				latencies[i] = time.Since(start)
				if err != nil || a.Status != 0 {
					errs.Add(1)
					failed[i] = true
				}
			}
		}()
	}
	wg.Wait()
	var ok []float64
	for i, d := range latencies {
		if !failed[i] {
			ok = append(ok, float64(d.Microseconds())/1000)
		}
	}
	sort.Float64s(ok)
	ms := func(q float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return ok[int(q*float64(len(ok)-1))]
	}
	out, _ := json.Marshal(map[string]any{
		"requests": requests, "errors": errs.Load(),
		"p50_ms": ms(0.50), "p99_ms": ms(0.99), "max_ms": ms(1),
		"ok_ms": ok,
	})
	fmt.Fprintln(stdout, string(out))
	if errs.Load() > 0 {
		return 1
	}
	return 0
}

func readPrompts(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no prompts", file)
	}
	return out, nil
}
