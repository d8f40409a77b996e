// Package extproc is the router's Envoy external processor: the ext_proc v3
// gRPC service (envoy.service.ext_proc.v3.ExternalProcessor).
//
// Envoy opens one stream per HTTP request and sends its phases. The router
// answers request headers, trailers and every response phase with CONTINUE.
// The request body, an OpenAI chat completions request, is routed like a
// prompt of POST /v1/route: its last user message goes to the model of the
// most similar category. The answer sets the request headers
//
//	x-vsr-selected-category    the category ("default" under min_score)
//	x-vsr-selected-model       the category's model, else the default model
//	x-vsr-selected-confidence  the score, as /v1/route writes it
//
// and, when the body asks for the model "auto", replaces the model in the
// body with the selected one (removing content-length). Any other model is
// left as sent.
//
// A body that is not such a request is answered with an immediate response
// 400, a body over MaxBodyBytes 413, and 503 (with retry-after) while the
// model loads or when the limiter's slots and queue are full; their bodies
// are JSON {"error": "..."}. The stream ends after an immediate response
// (Envoy ends the HTTP request with it).
//
// A body may come in several messages (Envoy's STREAMED mode): the router
// accumulates it, answering each message but the last with a mutation that
// clears its chunk, and the last with the whole body. The stream enters the
// limiter (a queue place, then an embedding slot) only once the whole body
// has arrived (end_of_stream): streams whose bodies are still coming hold
// neither, so slow ones cannot keep others out.
package extproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"runtime/debug"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/limit"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/metrics"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/server"
)

// MaxBodyBytes is the largest request body routed (413 above), as over HTTP.
const MaxBodyBytes = server.MaxBodyBytes

// Headers set on a routed request.
const (
	HeaderCategory   = "x-vsr-selected-category"
	HeaderModel      = "x-vsr-selected-model"
	HeaderConfidence = "x-vsr-selected-confidence"
)

// AutoModel is the model a request names to have the router's choice
// written into its body.
const AutoModel = "auto"

// Phases of a stream, as labelled in the metrics.
const (
	PhaseRequestHeaders   = "request_headers"
	PhaseRequestBody      = "request_body"
	PhaseRequestTrailers  = "request_trailers"
	PhaseResponseHeaders  = "response_headers"
	PhaseResponseBody     = "response_body"
	PhaseResponseTrailers = "response_trailers"
)

// Router decides the route of a prompt, as for the HTTP API.
type Router = server.Router

type routerBox struct{ r Router }

// Server implements the ExternalProcessor service. Create it with New; it
// answers request bodies with 503 until SetRouter is called.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer

	metrics *metrics.Registry
	limiter *limit.Limiter
	logger  *log.Logger
	router  atomic.Pointer[routerBox]
}

// New returns a server recording into m, embedding through l (which may be
// shared with the HTTP API) and logging to logger (nil: the standard
// logger).
func New(m *metrics.Registry, l *limit.Limiter, logger *log.Logger) *Server {
	if logger == nil {
		logger = log.Default()
	}
	return &Server{metrics: m, limiter: l, logger: logger}
}

// SetRouter installs the router: request bodies are routed from then on.
func (s *Server) SetRouter(r Router) { s.router.Store(&routerBox{r}) }

// stream is the state of one stream: the request body received so far.
type stream struct {
	body    []byte
	chunked bool // earlier chunks were cleared: the last answer carries the whole body
}

// reset drops the body.
func (st *stream) reset() { *st = stream{} }

// Process serves one stream (one HTTP request in Envoy).
func (s *Server) Process(srv extprocv3.ExternalProcessor_ProcessServer) error {
	ctx := srv.Context()
	st := &stream{}
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		start := time.Now()
		phase := phaseOf(req)
		if phase == "" {
			return status.Error(codes.InvalidArgument, "processing request without a phase")
		}
		resp, err := s.handle(ctx, st, phase, req)
		if err != nil {
			return err
		}
		err = srv.Send(resp)
		s.metrics.ObserveExtProc(phase, time.Since(start))
		if err != nil {
			return err
		}
		if imm := resp.GetImmediateResponse(); imm != nil {
			s.metrics.ObserveImmediate(int(imm.GetStatus().GetCode()))
			return nil
		}
	}
}

func phaseOf(req *extprocv3.ProcessingRequest) string {
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return PhaseRequestHeaders
	case *extprocv3.ProcessingRequest_RequestBody:
		return PhaseRequestBody
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return PhaseRequestTrailers
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return PhaseResponseHeaders
	case *extprocv3.ProcessingRequest_ResponseBody:
		return PhaseResponseBody
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return PhaseResponseTrailers
	}
	return ""
}

// handle answers one message. A panic is logged and answered with an
// immediate 500; an error ends the stream.
func (s *Server) handle(ctx context.Context, st *stream, phase string, req *extprocv3.ProcessingRequest) (resp *extprocv3.ProcessingResponse, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.logger.Printf("panic processing %s: %v\n%s", phase, v, debug.Stack())
			st.reset()
			resp, err = immediate(typev3.StatusCode_InternalServerError, "internal server error"), nil
		}
	}()
	switch r := req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{}}}}, nil
	case *extprocv3.ProcessingRequest_RequestBody:
		return s.requestBody(ctx, st, r.RequestBody)
	case *extprocv3.ProcessingRequest_RequestTrailers:
		if st.chunked {
			// The cleared chunks cannot be sent with trailers.
			st.reset()
			return immediate(typev3.StatusCode_BadRequest, "request trailers before the end of the request body"), nil
		}
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}}, nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
			ResponseHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{}}}}, nil
	case *extprocv3.ProcessingRequest_ResponseBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{}}}}, nil
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}}, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "unknown processing request %T", req.GetRequest())
}

// requestBody accumulates the request body and routes it at its end.
func (s *Server) requestBody(ctx context.Context, st *stream, b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, error) {
	box := s.router.Load()
	if box == nil {
		st.reset()
		return unavailable("model is loading, retry later"), nil
	}
	if len(st.body)+len(b.GetBody()) > MaxBodyBytes {
		st.reset()
		return immediate(typev3.StatusCode_PayloadTooLarge, fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes)), nil
	}
	st.body = append(st.body, b.GetBody()...)
	if !b.GetEndOfStream() {
		st.chunked = true
		return bodyResponse(&extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{
			Mutation: &extprocv3.BodyMutation_ClearBody{ClearBody: true}}}), nil
	}
	body, chunked := st.body, st.chunked
	st.reset()

	req, err := parseChat(body)
	if err != nil {
		return immediate(typev3.StatusCode_BadRequest, err.Error()), nil
	}
	// The whole body is in: a queue place now, as over HTTP.
	if !s.limiter.Enter() {
		return unavailable(fmt.Sprintf("busy: %d prompts are being embedded and %d are queued, retry later",
			s.limiter.Concurrency(), s.limiter.Queue())), nil
	}
	defer s.limiter.Leave()
	var res router.Result
	var routeErr error
	if err := s.limiter.Do(ctx, func() { res, routeErr = box.r.Route(req.prompt) }); err != nil {
		if errors.Is(err, limit.ErrWaited) {
			return unavailable(fmt.Sprintf("busy: no embedding slot came free within %s, retry later", s.limiter.MaxWait())), nil
		}
		return nil, status.FromContextError(err).Err() // the stream ended while queued
	}
	if routeErr != nil {
		s.logger.Printf("routing failed: %v", routeErr)
		return immediate(typev3.StatusCode_InternalServerError, "routing failed: "+routeErr.Error()), nil
	}
	s.metrics.ObserveRoute(res.Category)
	if res.Truncated {
		s.metrics.ObserveTruncated()
	}

	// The score as /v1/route writes it (a JSON number from a float32).
	confidence, err := json.Marshal(res.Score)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot format the score %v: %v", res.Score, err)
	}
	common := &extprocv3.CommonResponse{
		HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			setHeader(HeaderCategory, res.Category),
			setHeader(HeaderModel, res.Model),
			setHeader(HeaderConfidence, string(confidence)),
		}},
		// Routes that match on the headers above see them.
		ClearRouteCache: true,
	}
	newBody := []byte(nil)
	if chunked {
		newBody = body
	}
	if req.model == AutoModel {
		if newBody, err = req.withModel(res.Model); err != nil {
			return nil, status.Errorf(codes.Internal, "cannot encode the body: %v", err)
		}
		common.HeaderMutation.RemoveHeaders = []string{"content-length"}
	}
	if newBody != nil {
		common.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: newBody}}
	}
	return bodyResponse(common), nil
}

func bodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
		RequestBody: &extprocv3.BodyResponse{Response: c}}}
}

// setHeader replaces a request header (a client's own value included).
func setHeader(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, RawValue: []byte(value)},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// immediate is an immediate response with a JSON body {"error": msg}.
func immediate(code typev3.StatusCode, msg string, headers ...*corev3.HeaderValueOption) *extprocv3.ProcessingResponse {
	body, _ := json.Marshal(map[string]string{"error": msg})
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: code},
			Headers: &extprocv3.HeaderMutation{SetHeaders: append([]*corev3.HeaderValueOption{
				setHeader("content-type", "application/json"),
			}, headers...)},
			Body:    append(body, '\n'),
			Details: fmt.Sprintf("semantic_router_%d", int(code)),
		}}}
}

// unavailable is an immediate 503 with retry-after.
func unavailable(msg string) *extprocv3.ProcessingResponse {
	return immediate(typev3.StatusCode_ServiceUnavailable, msg,
		setHeader("retry-after", fmt.Sprint(server.RetryAfterSeconds)))
}
