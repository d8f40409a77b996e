// Package config reads and validates the router configuration (JSON).
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultListen is the listen address used when neither the file nor an
// override sets one.
const DefaultListen = "127.0.0.1:8080"

// DefaultCategory is the category reported when no category scores at least
// MinScore; its name is reserved.
const DefaultCategory = "default"

// ModelFiles are the files the model directory must hold.
var ModelFiles = []string{"config.json", "tokenizer.json", "model.safetensors"}

// Category is a routing target: prompts similar to Examples go to Model.
type Category struct {
	Name     string   `json:"name"`
	Model    string   `json:"model"`
	Examples []string `json:"examples"`
}

// Config is the router configuration.
type Config struct {
	// ModelPath is the all-MiniLM-L6-v2 directory; relative paths are
	// relative to the working directory.
	ModelPath string `json:"model_path"`
	// Listen is the HTTP listen address (host:port, port 0 for any).
	Listen string `json:"listen"`
	// GRPCListen is the listen address of the Envoy ExtProc (gRPC)
	// service; empty means no gRPC service.
	GRPCListen string `json:"grpc_listen"`
	// Categories are matched by the cosine similarity of the prompt to
	// their examples.
	Categories []Category `json:"categories"`
	// DefaultModel is used when the best score is under MinScore.
	DefaultModel string `json:"default_model"`
	// MinScore is the least cosine similarity, in [-1, 1], to route to a
	// category.
	MinScore float64 `json:"min_score"`
	// MaxConcurrent is the number of prompts embedded at once; 0 (the
	// default) means one per CPU.
	MaxConcurrent int `json:"max_concurrent"`
	// MaxQueue is the number of requests that may wait for an embedding
	// beyond MaxConcurrent; more are refused with 503. Absent means
	// DefaultMaxQueue; 0 means none wait.
	MaxQueue *int `json:"max_queue"`
}

// DefaultMaxQueue is MaxQueue when the file and the overrides leave it out.
const DefaultMaxQueue = 64

// Bounds of MaxConcurrent and MaxQueue: beyond them the bound protects nothing.
const (
	MaxConcurrentLimit = 1024
	MaxQueueLimit      = 65536
)

// Parse decodes a configuration strictly: unknown fields, trailing data and
// a non-object document are errors. It does not validate (see Validate).
func Parse(data []byte) (*Config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("config is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, describeJSONError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: unexpected data after the top-level object")
	}
	return &c, nil
}

// describeJSONError turns a decoding error into a one-line message with the
// line and column when known.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("invalid JSON at line %d, column %d: field %s must be %s, not %s", line, col, field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return fmt.Errorf("invalid JSON: %v", err)
	}
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col = 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// Load reads and parses the file at path (it does not validate).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks the configuration; the error names the first problem.
// It also checks that the model directory exists and holds ModelFiles.
func (c *Config) Validate() error {
	if err := c.ValidateStatic(); err != nil {
		return err
	}
	return CheckModelDir(c.ModelPath)
}

// ValidateStatic checks everything but the file system.
func (c *Config) ValidateStatic() error {
	if strings.TrimSpace(c.ModelPath) == "" {
		return errors.New("model_path is empty")
	}
	if strings.TrimSpace(c.Listen) == "" {
		return errors.New("listen is empty")
	}
	if c.GRPCListen != "" && strings.TrimSpace(c.GRPCListen) == "" {
		return errors.New("grpc_listen is blank (leave it out for no gRPC service)")
	}
	if strings.TrimSpace(c.DefaultModel) == "" {
		return errors.New("default_model is empty")
	}
	if c.MinScore < -1 || c.MinScore > 1 || c.MinScore != c.MinScore {
		return fmt.Errorf("min_score %v is outside [-1, 1]", c.MinScore)
	}
	if c.MaxConcurrent < 0 || c.MaxConcurrent > MaxConcurrentLimit {
		return fmt.Errorf("max_concurrent %d is outside [0, %d] (0: one per CPU)", c.MaxConcurrent, MaxConcurrentLimit)
	}
	if c.MaxQueue != nil && (*c.MaxQueue < 0 || *c.MaxQueue > MaxQueueLimit) {
		return fmt.Errorf("max_queue %d is outside [0, %d]", *c.MaxQueue, MaxQueueLimit)
	}
	if len(c.Categories) == 0 {
		return errors.New("no categories: at least one is required")
	}
	seen := make(map[string]int, len(c.Categories))
	for i, cat := range c.Categories {
		where := fmt.Sprintf("categories[%d]", i)
		if strings.TrimSpace(cat.Name) == "" {
			return fmt.Errorf("%s: name is empty", where)
		}
		where = fmt.Sprintf("categories[%d] (%q)", i, cat.Name)
		if cat.Name == DefaultCategory {
			return fmt.Errorf("%s: the name %q is reserved for prompts under min_score", where, DefaultCategory)
		}
		if j, dup := seen[cat.Name]; dup {
			return fmt.Errorf("%s: duplicate category name %q (also categories[%d])", where, cat.Name, j)
		}
		seen[cat.Name] = i
		if strings.TrimSpace(cat.Model) == "" {
			return fmt.Errorf("%s: model is empty", where)
		}
		if len(cat.Examples) == 0 {
			return fmt.Errorf("%s: examples is empty", where)
		}
		for k, ex := range cat.Examples {
			if strings.TrimSpace(ex) == "" {
				return fmt.Errorf("%s: examples[%d] is empty", where, k)
			}
			if strings.IndexByte(ex, 0) >= 0 {
				return fmt.Errorf("%s: examples[%d] contains a NUL character", where, k)
			}
		}
	}
	return nil
}

// CheckModelDir checks that dir is a directory holding ModelFiles.
func CheckModelDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("model_path %q: directory does not exist", dir)
		}
		return fmt.Errorf("model_path %q: %v", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("model_path %q: not a directory", dir)
	}
	for _, f := range ModelFiles {
		p := filepath.Join(dir, f)
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("model_path %q: missing %s", dir, f)
		}
		if fi.IsDir() {
			return fmt.Errorf("model_path %q: %s is a directory", dir, f)
		}
	}
	return nil
}

// Overrides are the settings from flags and the environment, applied over
// the file; empty strings and nil leave the file's value.
type Overrides struct {
	ModelPath     string // CANDLE_MODEL_DIR
	Listen        string // --listen, else ROUTER_LISTEN
	GRPCListen    string // --grpc-listen, else ROUTER_GRPC_LISTEN
	MaxConcurrent *int   // --max-concurrent, else ROUTER_MAX_CONCURRENT
	MaxQueue      *int   // --max-queue, else ROUTER_MAX_QUEUE
}

// Apply applies o to c and fills defaults.
func (c *Config) Apply(o Overrides) {
	if o.ModelPath != "" {
		c.ModelPath = o.ModelPath
	}
	if o.Listen != "" {
		c.Listen = o.Listen
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if o.GRPCListen != "" {
		c.GRPCListen = o.GRPCListen
	}
	if o.MaxConcurrent != nil {
		c.MaxConcurrent = *o.MaxConcurrent
	}
	if o.MaxQueue != nil {
		q := *o.MaxQueue
		c.MaxQueue = &q
	}
	if c.MaxQueue == nil {
		q := DefaultMaxQueue
		c.MaxQueue = &q
	}
}
