// Command extproc is the semantic router: it routes each prompt to the model
// of the category whose examples it is most similar to (all-MiniLM-L6-v2
// embeddings, through the candle binding), over HTTP.
//
//	extproc [--config FILE] [--listen ADDR] [--version]
//
// The config file is --config, else $ROUTER_CONFIG, else config/config.json.
// $CANDLE_MODEL_DIR overrides model_path; --listen, else $ROUTER_LISTEN,
// overrides listen. $DASHBOARD_PROMETHEUS_URL, if set, is the target of the
// "Prometheus" link on /dashboard. An invalid configuration exits with
// status 2 and one error line on stderr. SIGTERM and SIGINT shut the
// server down gracefully (exit 0).
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
	"sync/atomic"
	"syscall"
	"time"

	candle "github.com/vllm-project/semantic-router/candle-binding"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
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
	cfg.Apply(config.Overrides{ModelPath: getenv("CANDLE_MODEL_DIR"), Listen: addr})
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "extproc: invalid config %s: %v\n", path, err)
		return 2
	}

	logger := log.New(stderr, "extproc: ", log.LstdFlags|log.Lmsgprefix)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		logger.Printf("cannot listen: %v", err)
		return 1
	}
	logger.Printf("listening on %s", ln.Addr())

	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-sigCtx.Done()
		stop() // a second signal during the graceful shutdown kills at once
	}()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()

	reg := metrics.New()
	srv := server.New(reg, logger)
	srv.SetRoutes(server.RoutesFromConfig(cfg))
	srv.SetPrometheusURL(getenv("DASHBOARD_PROMETHEUS_URL"))

	// Serve /healthz (503) while the model loads.
	var loadFailed atomic.Bool
	go func() {
		start := time.Now()
		rt, err := load(cfg)
		if err != nil {
			logger.Printf("cannot load the model: %v", err)
			loadFailed.Store(true)
			cancel()
			return
		}
		reg.AddCategories(append(rt.Categories(), config.DefaultCategory)...)
		srv.SetRouter(rt)
		logger.Printf("model %s loaded, %d categories ready in %s", cfg.ModelPath, len(cfg.Categories), time.Since(start).Round(time.Millisecond))
	}()

	err = server.Serve(ctx, ln, srv.Handler(), shutdownTimeout, logger)
	if loadFailed.Load() {
		return 1
	}
	if err != nil {
		logger.Printf("server error: %v", err)
		return 1
	}
	logger.Printf("shut down")
	return 0
}

func load(cfg *config.Config) (*router.Router, error) {
	if !candle.IsInitialized() {
		if err := candle.InitModel(cfg.ModelPath, true); err != nil {
			return nil, err
		}
	}
	return router.New(cfg, router.CandleEmbedder{})
}
