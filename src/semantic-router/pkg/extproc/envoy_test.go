package extproc

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
)

var envoyConfig = filepath.Join("..", "..", "config", "envoy.yaml")

// validator is a message with protoc-gen-validate's rules.
type validator interface{ ValidateAll() error }

// parseBootstrap reads an Envoy bootstrap strictly: YAML to JSON, then
// Envoy's own protos, where an unknown field or enum value is an error
// (inside typed_config too: the Any types are registered by the imports).
func parseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		return nil, err
	}
	return &b, b.ValidateAll()
}

// unpack decodes a typed_config into m and checks its rules.
func unpack(t *testing.T, what string, any interface {
	UnmarshalTo(proto.Message) error
}, m interface {
	proto.Message
	validator
}) {
	t.Helper()
	if err := any.UnmarshalTo(m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := m.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestEnvoyConfig(t *testing.T) {
	data, err := os.ReadFile(envoyConfig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseBootstrap(data)
	if err != nil {
		t.Fatalf("%s: %v", envoyConfig, err)
	}
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
	}

	listeners := b.GetStaticResources().GetListeners()
	if len(listeners) != 1 {
		t.Fatalf("%d listeners, want 1", len(listeners))
	}
	l := listeners[0]
	if port := l.GetAddress().GetSocketAddress().GetPortValue(); port != 8801 {
		t.Fatalf("listener port %d, want 8801", port)
	}
	if limit := l.GetPerConnectionBufferLimitBytes().GetValue(); limit != MaxBodyBytes {
		t.Fatalf("per_connection_buffer_limit_bytes %d, want the router's body limit %d", limit, MaxBodyBytes)
	}
	hcm := httpConnectionManager(t, l)

	// Routes go to defined clusters; chat completions through the router,
	// other paths without it.
	vhs := hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhs) != 1 {
		t.Fatalf("%d virtual hosts, want 1", len(vhs))
	}
	routes := vhs[0].GetRoutes()
	for _, r := range routes {
		if name := r.GetRoute().GetCluster(); clusters[name] == nil {
			t.Fatalf("route to undefined cluster %q", name)
		}
	}
	if len(routes) != 2 || routes[0].GetMatch().GetPath() != "/v1/chat/completions" || routes[1].GetMatch().GetPrefix() != "/" {
		t.Fatalf("routes %v, want /v1/chat/completions then the rest", routes)
	}
	if _, ok := routes[0].GetTypedPerFilterConfig()["envoy.filters.http.ext_proc"]; ok {
		t.Fatal("ext_proc configured on the chat completions route")
	}
	perRoute, ok := routes[1].GetTypedPerFilterConfig()["envoy.filters.http.ext_proc"]
	if !ok {
		t.Fatal("ext_proc not disabled on the other paths")
	}
	var off extprocfilterv3.ExtProcPerRoute
	unpack(t, "ext_proc per route", perRoute, &off)
	if !off.GetDisabled() {
		t.Fatalf("ext_proc per route %v, want disabled", &off)
	}

	// ext_proc, then the router.
	filters := hcm.GetHttpFilters()
	if len(filters) != 2 || filters[0].GetName() != "envoy.filters.http.ext_proc" || filters[1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("http_filters %v, want ext_proc then router", filters)
	}
	var ep extprocfilterv3.ExternalProcessor
	unpack(t, "ext_proc", filters[0].GetTypedConfig(), &ep)
	unpack(t, "router", filters[1].GetTypedConfig(), &routerfilterv3.Router{})

	pm := ep.GetProcessingMode()
	for _, c := range []struct {
		field     string
		got, want interface{}
	}{
		{"request_header_mode", pm.GetRequestHeaderMode(), extprocfilterv3.ProcessingMode_SEND},
		{"request_body_mode", pm.GetRequestBodyMode(), extprocfilterv3.ProcessingMode_BUFFERED},
		{"request_trailer_mode", pm.GetRequestTrailerMode(), extprocfilterv3.ProcessingMode_SKIP},
		{"response_header_mode", pm.GetResponseHeaderMode(), extprocfilterv3.ProcessingMode_SKIP},
		{"response_body_mode", pm.GetResponseBodyMode(), extprocfilterv3.ProcessingMode_NONE},
		{"response_trailer_mode", pm.GetResponseTrailerMode(), extprocfilterv3.ProcessingMode_SKIP},
		{"allow_mode_override", ep.GetAllowModeOverride(), false},
		{"failure_mode_allow", ep.GetFailureModeAllow(), false},
		{"message_timeout", ep.GetMessageTimeout().AsDuration(), 5 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("ext_proc %s = %v, want %v", c.field, c.got, c.want)
		}
	}

	// The ExtProc cluster: HTTP/2 to the router's grpc_listen.
	name := ep.GetGrpcService().GetEnvoyGrpc().GetClusterName()
	c := clusters[name]
	if name != "semantic-router" || c == nil {
		t.Fatalf("ext_proc grpc_service cluster %q, want semantic-router in static_resources", name)
	}
	opts, ok := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if !ok {
		t.Fatal("cluster semantic-router has no HttpProtocolOptions")
	}
	var hpo upstreamhttpv3.HttpProtocolOptions
	unpack(t, "semantic-router protocol options", opts, &hpo)
	if hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Fatal("cluster semantic-router does not speak HTTP/2")
	}
	if ka := hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions().GetConnectionKeepalive(); ka != nil &&
		ka.GetInterval().AsDuration() < KeepaliveMinTime {
		t.Fatalf("keepalive interval %v: the router closes connections pinged more often than every %v", ka.GetInterval().AsDuration(), KeepaliveMinTime)
	}
	endpoints := c.GetLoadAssignment().GetEndpoints()
	if len(endpoints) != 1 || len(endpoints[0].GetLbEndpoints()) != 1 {
		t.Fatalf("cluster semantic-router endpoints %v, want one", endpoints)
	}
	sa := endpoints[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	cfg, err := config.Load(filepath.Join("..", "..", "config", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))); got != cfg.GRPCListen {
		t.Fatalf("cluster semantic-router at %s, config.json's grpc_listen is %s", got, cfg.GRPCListen)
	}
}

func httpConnectionManager(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	chains := l.GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 {
		t.Fatalf("listener filter chains %v, want one with one filter", chains)
	}
	f := chains[0].GetFilters()[0]
	if f.GetName() != "envoy.filters.network.http_connection_manager" {
		t.Fatalf("network filter %q", f.GetName())
	}
	var hcm hcmv3.HttpConnectionManager
	unpack(t, "http_connection_manager", f.GetTypedConfig(), &hcm)
	return &hcm
}

// A misspelt field or value anywhere makes the configuration invalid.
func TestEnvoyConfigTypos(t *testing.T) {
	data, err := os.ReadFile(envoyConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to string }{
		{"static_resources:", "static_resource:"},
		{"per_connection_buffer_limit_bytes:", "per_connection_buffer_limit:"},
		{"stat_prefix:", "stats_prefix:"},
		{"request_body_mode:", "request_body_mod:"},
		{"request_body_mode: BUFFERED", "request_body_mode: BUFFER"},
		{"message_timeout: 5s", "message_timeout: 5"},
		{"cluster_name: semantic-router\n", "clustername: semantic-router\n"},
		{"http2_protocol_options:", "http2_protocol_option:"},
		{"ext_proc.v3.ExternalProcessor", "ext_proc.v3.ExternalProcesor"},
		{"disabled: true", "disable: true"},
		{"port_value: 50051", "port_value: -1"},
		{"port_value: 8801", "port_value: 70000"}, // valid JSON, outside Envoy's rules
	} {
		if !strings.Contains(string(data), c.from) {
			t.Fatalf("%s lacks %q", envoyConfig, c.from)
		}
		bad := strings.Replace(string(data), c.from, c.to, 1)
		_, err := parseBootstrap([]byte(bad))
		if err == nil {
			t.Errorf("%q for %q: no error", c.to, c.from)
			continue
		}
		t.Logf("%q for %q: %v", c.to, c.from, err)
	}
}
