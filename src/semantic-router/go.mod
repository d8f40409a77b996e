module github.com/vllm-project/semantic-router/src/semantic-router

go 1.19

require github.com/vllm-project/semantic-router/candle-binding v0.0.0-00010101000000-000000000000

replace github.com/vllm-project/semantic-router/candle-binding => ../../candle-binding
