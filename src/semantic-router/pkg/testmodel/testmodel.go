// Package testmodel loads the real model for a package's tests: the
// configuration at a path, with all-MiniLM-L6-v2 from $CANDLE_MODEL_DIR,
// validated, and its router with every example embedded.
package testmodel

import (
	"errors"
	"os"

	candle "github.com/vllm-project/semantic-router/candle-binding"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/config"
	"github.com/vllm-project/semantic-router/src/semantic-router/pkg/router"
)

// Load reads the configuration at path, loads the model and builds the router.
func Load(path string) (*config.Config, *router.Router, error) {
	dir := os.Getenv("CANDLE_MODEL_DIR")
	if dir == "" {
		return nil, nil, errors.New("CANDLE_MODEL_DIR is not set: it must name the all-MiniLM-L6-v2 directory")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	cfg.Apply(config.Overrides{ModelPath: dir})
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if err := candle.InitModel(cfg.ModelPath, true); err != nil {
		return nil, nil, err
	}
	rt, err := router.New(cfg, router.CandleEmbedder{})
	if err != nil {
		return nil, nil, err
	}
	return cfg, rt, nil
}
