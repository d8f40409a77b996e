package router

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
)

// fakeEmbedder maps texts to fixed unit vectors.
type fakeEmbedder struct {
	vecs  map[string][]float32
	calls int
}

func (f *fakeEmbedder) Embed(text string) (Embedding, error) {
	f.calls++
	v, ok := f.vecs[text]
	if !ok {
		return Embedding{}, errors.New("unknown text " + text)
	}
	return Embedding{Vector: v, Truncated: text == "long"}, nil
}

func unit(angleDeg float64) []float32 {
	a := angleDeg * math.Pi / 180
	return []float32{float32(math.Cos(a)), float32(math.Sin(a)), 0}
}

func testConfig(minScore float64) *config.Config {
	return &config.Config{
		ModelPath:    "unused",
		Listen:       "127.0.0.1:0",
		DefaultModel: "base",
		MinScore:     minScore,
		Categories: []config.Category{
			{Name: "east", Model: "m-east", Examples: []string{"e1", "e2"}},
			{Name: "north", Model: "m-north", Examples: []string{"n1"}},
		},
	}
}

func newFake() *fakeEmbedder {
	return &fakeEmbedder{vecs: map[string][]float32{
		"e1": unit(0), "e2": unit(10), "n1": unit(90),
		"near-east": unit(8), "near-north": unit(80), "west": unit(180), "diag": unit(45),
		"long": unit(8),
	}}
}

func TestRoute(t *testing.T) {
	f := newFake()
	r, err := New(testConfig(0.5), f)
	if err != nil {
		t.Fatal(err)
	}
	if f.calls != 3 {
		t.Fatalf("examples embedded %d times, want 3 (once each)", f.calls)
	}
	if got := strings.Join(r.Categories(), ","); got != "east,north" {
		t.Fatalf("categories %s", got)
	}
	cases := []struct {
		prompt, cat, model string
		score              float64
	}{
		{"near-east", "east", "m-east", math.Cos(2 * math.Pi / 180)}, // max over examples: e2 at 10°
		{"near-north", "north", "m-north", math.Cos(10 * math.Pi / 180)},
		{"diag", "east", "m-east", math.Cos(35 * math.Pi / 180)}, // 35° from e2 beats 45° from n1
		{"west", config.DefaultCategory, "base", 0},              // best is n1 at 90°: under min_score
	}
	for _, c := range cases {
		res, err := r.Route(c.prompt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Category != c.cat || res.Model != c.model || math.Abs(float64(res.Score)-c.score) > 1e-5 {
			t.Errorf("%s: got %+v, want %s/%s/%.5f", c.prompt, res, c.cat, c.model, c.score)
		}
	}
	if f.calls != 3+len(cases) {
		t.Fatalf("embed calls %d", f.calls)
	}
}

func TestTruncationIsPassedOn(t *testing.T) {
	r, err := New(testConfig(0.5), newFake())
	if err != nil {
		t.Fatal(err)
	}
	long, _ := r.Route("long")
	short, _ := r.Route("near-east")
	if !long.Truncated || short.Truncated || long.Category != "east" {
		t.Fatalf("long %+v, short %+v", long, short)
	}
	if b, _ := json.Marshal(long); strings.Contains(string(b), "runcated") {
		t.Fatalf("truncation is sent to clients: %s", b)
	}
}

func TestMinScore(t *testing.T) {
	r, err := New(testConfig(0.99), newFake())
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Route("near-north") // cos 10° = 0.985 < 0.99
	if err != nil {
		t.Fatal(err)
	}
	if res.Category != "default" || res.Model != "base" {
		t.Fatalf("got %+v, want the default", res)
	}
	r, _ = New(testConfig(-1), newFake())
	if res, _ := r.Route("west"); res.Category != "north" {
		t.Fatalf("min_score -1: got %+v", res)
	}
}

func TestTieGoesToFirst(t *testing.T) {
	f := newFake()
	f.vecs["n1"] = unit(0) // same as e1
	r, err := New(testConfig(0), f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if res, _ := r.Route("near-east"); res.Category != "east" {
			t.Fatalf("tie: got %+v", res)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFake()
	cfg := testConfig(0)
	cfg.Categories[1].Examples = []string{"unknown example"}
	if _, err := New(cfg, f); err == nil || !strings.Contains(err.Error(), `category "north" example 0`) {
		t.Fatalf("embedding failure: %v", err)
	}
	f = newFake()
	f.vecs["n1"] = []float32{1, 0}
	if _, err := New(testConfig(0), f); err == nil || !strings.Contains(err.Error(), "embedding length") {
		t.Fatalf("dimension mismatch: %v", err)
	}
	bad := testConfig(0)
	bad.Categories = nil
	if _, err := New(bad, newFake()); err == nil {
		t.Fatal("invalid config accepted")
	}
	r, _ := New(testConfig(0), newFake())
	if _, err := r.Route(""); !errors.Is(err, ErrEmptyPrompt) {
		t.Fatalf("empty prompt: %v", err)
	}
	if _, err := r.Route("not embeddable"); err == nil {
		t.Fatal("embedder error swallowed")
	}
}
