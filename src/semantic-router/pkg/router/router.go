// Package router routes a prompt to a category by the cosine similarity of
// its embedding to the embeddings of each category's examples.
package router

import (
	"errors"
	"fmt"

	candle "github.com/vllm-project/semantic-router/candle-binding"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
)

// Embedding is an L2-normalised embedding and whether its text was
// truncated to the model's token limit.
type Embedding struct {
	Vector    []float32
	Truncated bool
}

// Embedder computes embeddings.
type Embedder interface {
	Embed(text string) (Embedding, error)
}

// CandleEmbedder embeds with the candle binding (the model must be loaded).
type CandleEmbedder struct {
	// MaxLength bounds the tokens per text; 0 means the binding's default
	// (candle.DefaultMaxTokens). Longer texts are cut at the token level.
	MaxLength int
}

// Embed implements Embedder.
func (e CandleEmbedder) Embed(text string) (Embedding, error) {
	r, err := candle.Embed(text, e.MaxLength)
	return Embedding{Vector: r.Vector, Truncated: r.Truncated}, err
}

// Result is the routing decision for a prompt.
type Result struct {
	Category string  `json:"category"`
	Model    string  `json:"model"`
	Score    float32 `json:"score"`
	// Truncated is true when only the beginning of the prompt (the model's
	// token limit) was embedded; it is counted in the metrics, not sent.
	Truncated bool `json:"-"`
}

type category struct {
	name, model string
	examples    [][]float32
}

// Router holds the embeddings of all category examples. It is immutable
// after New and safe for concurrent use.
type Router struct {
	emb          Embedder
	categories   []category
	defaultModel string
	minScore     float64
	dim          int
}

// New embeds every example of cfg once. cfg must be valid.
func New(cfg *config.Config, emb Embedder) (*Router, error) {
	if err := cfg.ValidateStatic(); err != nil {
		return nil, err
	}
	r := &Router{emb: emb, defaultModel: cfg.DefaultModel, minScore: cfg.MinScore}
	for _, c := range cfg.Categories {
		cat := category{name: c.Name, model: c.Model}
		for i, ex := range c.Examples {
			e, err := emb.Embed(ex)
			v := e.Vector
			if err != nil {
				return nil, fmt.Errorf("category %q example %d: %w", c.Name, i, err)
			}
			if r.dim == 0 {
				r.dim = len(v)
			}
			if len(v) == 0 || len(v) != r.dim {
				return nil, fmt.Errorf("category %q example %d: embedding length %d, want %d", c.Name, i, len(v), r.dim)
			}
			cat.examples = append(cat.examples, v)
		}
		r.categories = append(r.categories, cat)
	}
	return r, nil
}

// Categories returns the category names in configuration order.
func (r *Router) Categories() []string {
	out := make([]string, len(r.categories))
	for i, c := range r.categories {
		out[i] = c.name
	}
	return out
}

// ErrEmptyPrompt is returned for an empty prompt.
var ErrEmptyPrompt = errors.New("prompt is empty")

// Route returns the category whose examples are the most similar to
// prompt (maximum cosine similarity over the examples; ties go to the
// category listed first). Under the configured minimum score the prompt
// goes to the default model, category "default"; Score is the best
// similarity in either case.
func (r *Router) Route(prompt string) (Result, error) {
	if prompt == "" {
		return Result{}, ErrEmptyPrompt
	}
	e, err := r.emb.Embed(prompt)
	if err != nil {
		return Result{}, err
	}
	v := e.Vector
	if len(v) != r.dim {
		return Result{}, fmt.Errorf("prompt embedding length %d, want %d", len(v), r.dim)
	}
	best, bestScore := -1, 0.0
	for i, c := range r.categories {
		for _, ex := range c.examples {
			s := dot(v, ex)
			if best < 0 || s > bestScore {
				best, bestScore = i, s
			}
		}
	}
	// Embeddings are unit vectors: keep rounding from leaving [-1, 1].
	if bestScore > 1 {
		bestScore = 1
	} else if bestScore < -1 {
		bestScore = -1
	}
	if best < 0 || bestScore < r.minScore {
		return Result{Category: config.DefaultCategory, Model: r.defaultModel, Score: float32(bestScore), Truncated: e.Truncated}, nil
	}
	c := r.categories[best]
	return Result{Category: c.name, Model: c.model, Score: float32(bestScore), Truncated: e.Truncated}, nil
}

// dot is the cosine similarity of two L2-normalised vectors.
func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
