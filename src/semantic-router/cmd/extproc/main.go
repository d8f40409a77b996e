// Command extproc is the semantic router: it routes each prompt to the model
// of the category whose examples it is most similar to (all-MiniLM-L6-v2
// embeddings, through the candle binding), over HTTP and as an Envoy
// external processor (ext_proc over gRPC).
//
//	extproc [--config FILE] [--listen ADDR] [--grpc-listen ADDR] [--max-concurrent N] [--max-queue N] [--version]
//
// The config file is --config, else $ROUTER_CONFIG, else config/config.json.
// $CANDLE_MODEL_DIR overrides model_path; --listen, else $ROUTER_LISTEN,
// overrides listen; --grpc-listen, else $ROUTER_GRPC_LISTEN, overrides
// grpc_listen (none: no gRPC service); --max-concurrent, else
// $ROUTER_MAX_CONCURRENT, overrides max_concurrent (0: one per CPU);
// --max-queue, else $ROUTER_MAX_QUEUE, overrides max_queue. Both APIs share
// the embedding slots and queue. $DASHBOARD_PROMETHEUS_URL, if set, is the
// target of the "Prometheus" link on /dashboard. Every start-up failure
// (invalid configuration, address in use, a model that does not load) exits
// with status 2 and one error line on stderr. SIGTERM and SIGINT shut both
// servers down gracefully (exit 0).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	candle "github.com/vllm-project/semantic-router/candle-binding"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/extproc"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/limit"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/server"
)

// version is set at link time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// DefaultConfigPath is used without --config and $ROUTER_CONFIG.
const DefaultConfigPath = "config/config.json"

const shutdownTimeout = 20 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("extproc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default $ROUTER_CONFIG, else "+DefaultConfigPath+")")
	listen := fs.String("listen", "", "listen address, overrides the config and $ROUTER_LISTEN (e.g. 127.0.0.1:0)")
	grpcListen := fs.String("grpc-listen", "", "ExtProc (gRPC) listen address, overrides the config and $ROUTER_GRPC_LISTEN (e.g. 127.0.0.1:50051)")
	maxConcurrent := fs.String("max-concurrent", "", "embeddings computed at once, overrides the config and $ROUTER_MAX_CONCURRENT (0: one per CPU)")
	maxQueue := fs.String("max-queue", "", "requests that may wait for an embedding, overrides the config and $ROUTER_MAX_QUEUE")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "extproc: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "extproc %s\n", version)
		return 0
	}

	path := *configPath
	if path == "" {
		path = getenv("ROUTER_CONFIG")
	}
	if path == "" {
		path = DefaultConfigPath
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "extproc: %v\n", err)
		return 2
	}
	addr := *listen
	if addr == "" {
		addr = getenv("ROUTER_LISTEN")
	}
	grpcAddr := *grpcListen
	if grpcAddr == "" {
		grpcAddr = getenv("ROUTER_GRPC_LISTEN")
	}
	over := config.Overrides{ModelPath: getenv("CANDLE_MODEL_DIR"), Listen: addr, GRPCListen: grpcAddr}
	for _, o := range []struct {
		flag, env, value string
		dst              **int
	}{
		{"--max-concurrent", "ROUTER_MAX_CONCURRENT", *maxConcurrent, &over.MaxConcurrent},
		{"--max-queue", "ROUTER_MAX_QUEUE", *maxQueue, &over.MaxQueue},
	} {
		name, value := o.flag, o.value
		if value == "" {
			name, value = "$"+o.env, getenv(o.env)
		}
		if value == "" {
			continue
		}
		n, err := strconv.Atoi(value)
		if err != nil {
			fmt.Fprintf(stderr, "extproc: %s: %q is not an integer\n", name, value)
			return 2
		}
		*o.dst = &n
	}
	cfg.Apply(over)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "extproc: invalid config %s: %v\n", path, err)
		return 2
	}

	logger := log.New(stderr, "extproc: ", log.LstdFlags|log.Lmsgprefix)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "extproc: cannot listen on %s: %v\n", cfg.Listen, err)
		return 2
	}
	var gln net.Listener
	if cfg.GRPCListen != "" {
		if gln, err = net.Listen("tcp", cfg.GRPCListen); err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "extproc: grpc: cannot listen on %s: %v\n", cfg.GRPCListen, err)
			return 2
		}
	}
	// The HTTP address first: scripts read the first "listening on" line.
	logger.Printf("listening on %s", ln.Addr())
	if gln != nil {
		logger.Printf("grpc listening on %s", gln.Addr())
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs) // a second signal during the graceful shutdown kills at once
			logger.Printf("%v: shutting down, open requests and streams finish", sig)
			cancel()
		case <-ctx.Done():
		}
	}()

	reg := metrics.New()
	srv := server.New(reg, logger)
	concurrency := cfg.MaxConcurrent
	if concurrency == 0 {
		concurrency = limit.DefaultConcurrency()
	}
	limiter := limit.New(limit.Options{Concurrency: concurrency, Queue: *cfg.MaxQueue, Reclaim: reclaim})
	srv.SetLimiter(limiter)
	srv.SetRoutes(server.RoutesFromConfig(cfg))
	srv.SetPrometheusURL(getenv("DASHBOARD_PROMETHEUS_URL"))
	ep := extproc.New(reg, limiter, logger)

	// Serve /healthz (503) while the model loads.
	var loadFailed atomic.Bool
	go func() {
		start := time.Now()
		rt, err := load(cfg)
		if err != nil {
			logger.Printf("cannot load the model: %s", oneLine(err.Error()))
			loadFailed.Store(true)
			cancel()
			return
		}
		reg.AddCategories(append(rt.Categories(), config.DefaultCategory)...)
		srv.SetRouter(rt)
		ep.SetRouter(rt)
		logger.Printf("model %s loaded, %d categories ready in %s; %d prompts embedded at once, %d queued, prompts cut to %d tokens",
			cfg.ModelPath, len(cfg.Categories), time.Since(start).Round(time.Millisecond), concurrency, *cfg.MaxQueue, candle.DefaultMaxTokens)
	}()

	// The gRPC server runs beside the HTTP one; either failing stops both.
	grpcErr := make(chan error, 1)
	if gln != nil {
		go func() {
			err := extproc.Serve(ctx, gln, extproc.NewGRPCServer(ep), shutdownTimeout)
			cancel()
			grpcErr <- err
		}()
	} else {
		grpcErr <- nil
	}
	err = server.Serve(ctx, ln, srv.Handler(), shutdownTimeout, logger)
	cancel()
	gerr := <-grpcErr
	if loadFailed.Load() {
		return 2
	}
	if err != nil || gerr != nil {
		if err != nil {
			logger.Printf("server error: %v", err)
		}
		if gerr != nil {
			logger.Printf("grpc server error: %v", gerr)
		}
		return 1
	}
	logger.Printf("shut down")
	return 0
}

// reclaim gives memory freed after a burst back to the system: the C
// allocator's arenas, where the embeddings' tensors lived, and Go's heap.
// Without it the resident size stays near its peak for minutes.
func reclaim() {
	candle.ReleaseMemory()
	debug.FreeOSMemory()
}

// oneLine joins the lines of a message: a start-up failure is one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func load(cfg *config.Config) (*router.Router, error) {
	if !candle.IsInitialized() {
		if err := candle.InitModel(cfg.ModelPath, true); err != nil {
			return nil, err
		}
	}
	return router.New(cfg, router.CandleEmbedder{})
}
