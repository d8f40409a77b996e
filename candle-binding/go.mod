module github.com/vllm-project/semantic-router/candle-binding

go 1.19
