package extproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// MaxRecvMsgSize bounds a message from Envoy: a body over MaxBodyBytes
// still fits (to be answered 413), and so do request headers (Envoy's
// default limit is 60 KiB).
const MaxRecvMsgSize = MaxBodyBytes + 64<<10

// MaxConcurrentStreams bounds the streams (HTTP requests in Envoy) of one
// connection; Envoy opens more connections beyond it.
const MaxConcurrentStreams = 1024

// Keepalive: the server pings a connection idle for KeepaliveTime and
// closes it without an answer within KeepaliveTimeout; a client may ping
// every KeepaliveMinTime at most, even without streams.
const (
	KeepaliveTime    = time.Minute
	KeepaliveTimeout = 20 * time.Second
	KeepaliveMinTime = 10 * time.Second
)

// NewGRPCServer returns a gRPC server serving s, with the bounds above.
func NewGRPCServer(s *Server) *grpc.Server {
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: true}),
	)
	extprocv3.RegisterExternalProcessorServer(gs, s)
	return gs
}

// Serve serves gs on ln until ctx is done, then stops gracefully: the
// listener closes at once, clients are told to go away, and open streams
// get up to shutdownTimeout to finish before they are cut. It returns nil
// after a clean stop.
func Serve(ctx context.Context, ln net.Listener, gs *grpc.Server, shutdownTimeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case err := <-errc:
		return err // Serve failed on its own
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(shutdownTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-stopped:
	case <-timer.C:
		gs.Stop()
		<-stopped
		err = fmt.Errorf("grpc shutdown: streams still open after %s were cut", shutdownTimeout)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
		return serr
	}
	return err
}
