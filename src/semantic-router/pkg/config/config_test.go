package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeModelDir makes a directory that passes CheckModelDir.
func fakeModelDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range ModelFiles {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func validJSON(modelDir string) string {
	m := map[string]interface{}{
		"model_path":    modelDir,
		"listen":        "127.0.0.1:0",
		"default_model": "base",
		"min_score":     0.3,
		"categories": []interface{}{
			map[string]interface{}{"name": "coding", "model": "coder", "examples": []string{"fix my code"}},
			map[string]interface{}{"name": "math", "model": "mathy", "examples": []string{"solve x"}},
		},
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestValid(t *testing.T) {
	dir := fakeModelDir(t)
	c, err := Parse([]byte(validJSON(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ModelPath != dir || c.Listen != "127.0.0.1:0" || c.DefaultModel != "base" || c.MinScore != 0.3 || len(c.Categories) != 2 {
		t.Fatalf("parsed %+v", c)
	}
}

func TestExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "config", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateStatic(); err != nil {
		t.Fatal(err)
	}
	if c.ModelPath != "models/all-MiniLM-L6-v2" {
		t.Fatalf("model_path %q", c.ModelPath)
	}
	if c.GRPCListen != "127.0.0.1:50051" {
		t.Fatalf("grpc_listen %q, want Envoy's ExtProc port 127.0.0.1:50051 (config/envoy.yaml)", c.GRPCListen)
	}
	names := map[string]bool{}
	for _, cat := range c.Categories {
		names[cat.Name] = true
		if len(cat.Examples) < 6 {
			t.Errorf("category %s has %d examples, want >= 6", cat.Name, len(cat.Examples))
		}
	}
	for _, want := range []string{"coding", "math", "cooking", "general"} {
		if !names[want] {
			t.Errorf("example config lacks category %q", want)
		}
	}
}

func TestInvalid(t *testing.T) {
	dir := fakeModelDir(t)
	// edit returns the valid config with one change applied to its map form.
	edit := func(f func(m map[string]interface{})) string {
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(validJSON(dir)), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	cat := func(m map[string]interface{}, i int) map[string]interface{} {
		return m["categories"].([]interface{})[i].(map[string]interface{})
	}
	cases := []struct {
		name, data, want string
	}{
		{"empty file", "", "config is empty"},
		{"bad JSON", `{"model_path": "x",`, "invalid JSON"},
		{"syntax error position", "{\n  \"listen\": 12x\n}", "line 2"},
		{"not an object", `[1, 2]`, "invalid JSON"},
		{"wrong type", edit(func(m map[string]interface{}) { m["min_score"] = "high" }), "min_score"},
		{"trailing data", validJSON(dir) + ` {}`, "after the top-level object"},
		{"unknown field", edit(func(m map[string]interface{}) { m["modle_path"] = "x" }), `unknown field "modle_path"`},
		{"unknown category field", edit(func(m map[string]interface{}) { cat(m, 0)["exemples"] = []string{"a"} }), `unknown field "exemples"`},
		{"no categories", edit(func(m map[string]interface{}) { m["categories"] = []interface{}{} }), "no categories"},
		{"categories missing", edit(func(m map[string]interface{}) { delete(m, "categories") }), "no categories"},
		{"empty name", edit(func(m map[string]interface{}) { cat(m, 1)["name"] = " " }), "categories[1]: name is empty"},
		{"empty model", edit(func(m map[string]interface{}) { cat(m, 0)["model"] = "" }), `categories[0] ("coding"): model is empty`},
		{"no examples", edit(func(m map[string]interface{}) { cat(m, 1)["examples"] = []string{} }), `categories[1] ("math"): examples is empty`},
		{"empty example", edit(func(m map[string]interface{}) { cat(m, 1)["examples"] = []string{"ok", ""} }), "examples[1] is empty"},
		{"duplicate names", edit(func(m map[string]interface{}) { cat(m, 1)["name"] = "coding" }), `duplicate category name "coding"`},
		{"reserved name", edit(func(m map[string]interface{}) { cat(m, 0)["name"] = "default" }), "reserved"},
		{"min_score too high", edit(func(m map[string]interface{}) { m["min_score"] = 1.5 }), "min_score 1.5 is outside [-1, 1]"},
		{"min_score too low", edit(func(m map[string]interface{}) { m["min_score"] = -2 }), "min_score -2 is outside [-1, 1]"},
		{"no default model", edit(func(m map[string]interface{}) { delete(m, "default_model") }), "default_model is empty"},
		{"blank grpc_listen", edit(func(m map[string]interface{}) { m["grpc_listen"] = " " }), "grpc_listen is blank"},
		{"grpc_listen not a string", edit(func(m map[string]interface{}) { m["grpc_listen"] = 50051 }), "grpc_listen"},
		{"no model_path", edit(func(m map[string]interface{}) { m["model_path"] = "" }), "model_path is empty"},
		{"missing model dir", edit(func(m map[string]interface{}) { m["model_path"] = filepath.Join(dir, "nope") }), "directory does not exist"},
		{"model dir is a file", edit(func(m map[string]interface{}) { m["model_path"] = filepath.Join(dir, "config.json") }), "not a directory"},
		{"model dir lacks weights", edit(func(m map[string]interface{}) { m["model_path"] = t.TempDir() }), "missing config.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.data))
			if err == nil {
				cfg.Apply(Overrides{})
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatalf("no error for %s", c.data)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q spans several lines", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.json"))
	if err == nil || !strings.Contains(err.Error(), "cannot read config") {
		t.Fatalf("got %v", err)
	}
}

func TestOverrides(t *testing.T) {
	dir := fakeModelDir(t)
	c, err := Parse([]byte(`{"model_path":"elsewhere","default_model":"m","categories":[{"name":"a","model":"b","examples":["c"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(Overrides{})
	if c.Listen != DefaultListen {
		t.Fatalf("default listen %q", c.Listen)
	}
	if c.GRPCListen != "" {
		t.Fatalf("grpc_listen %q without the file or an override, want none", c.GRPCListen)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"elsewhere"`) {
		t.Fatalf("want a missing model dir error naming it, got %v", err)
	}
	if c.MaxConcurrent != 0 || c.MaxQueue == nil || *c.MaxQueue != DefaultMaxQueue {
		t.Fatalf("default limits: max_concurrent %d, max_queue %v", c.MaxConcurrent, c.MaxQueue)
	}
	three, zero := 3, 0
	c.Apply(Overrides{ModelPath: dir, Listen: "127.0.0.1:0", GRPCListen: "127.0.0.1:1", MaxConcurrent: &three, MaxQueue: &zero})
	if c.ModelPath != dir || c.Listen != "127.0.0.1:0" || c.GRPCListen != "127.0.0.1:1" || c.MaxConcurrent != 3 || *c.MaxQueue != 0 {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// An override replaces the file's grpc_listen; no override keeps it.
	c, err = Parse([]byte(`{"model_path":"m","grpc_listen":"127.0.0.1:2","default_model":"m","categories":[{"name":"a","model":"b","examples":["c"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(Overrides{})
	if c.GRPCListen != "127.0.0.1:2" {
		t.Fatalf("file grpc_listen %q", c.GRPCListen)
	}
	c.Apply(Overrides{GRPCListen: "127.0.0.1:3"})
	if c.GRPCListen != "127.0.0.1:3" {
		t.Fatalf("overridden grpc_listen %q", c.GRPCListen)
	}
}

func TestLimits(t *testing.T) {
	base := `{"model_path":"m","default_model":"m","categories":[{"name":"a","model":"b","examples":["c"]}]`
	c, err := Parse([]byte(base + `,"max_concurrent":4,"max_queue":0}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(Overrides{})
	if c.MaxConcurrent != 4 || *c.MaxQueue != 0 {
		t.Fatalf("file limits: %d, %d", c.MaxConcurrent, *c.MaxQueue)
	}
	for extra, want := range map[string]string{
		`,"max_concurrent":-1}`:   "max_concurrent -1 is outside [0, 1024]",
		`,"max_concurrent":5000}`: "max_concurrent 5000 is outside",
		`,"max_queue":-2}`:        "max_queue -2 is outside [0, 65536]",
		`,"max_queue":1e9}`:       "max_queue",
	} {
		c, err := Parse([]byte(base + extra))
		if err == nil {
			c.Apply(Overrides{})
			err = c.ValidateStatic()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", extra, err, want)
		}
	}
}
