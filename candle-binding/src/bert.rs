//! BERT's encoder, as all-MiniLM-L6-v2 (and any BERT checkpoint in the
//! Hugging Face layout) uses it, on candle-nn's layers.
//!
//! Why not `candle-transformers`: it compiles a hundred models to use one.
//! It was the last and longest crate of every cold build (about 3.5 of 9
//! minutes in the Docker cook on two cores), and each CI run builds the
//! library cold four times. This encoder is the same arithmetic (post-norm
//! layers, exact erf GELU as `hidden_act: "gelu"` asks); the rust suite holds
//! it to an independent numpy reference within 1e-4
//! (`tests/abi/model.rs`, `tests/data/make_reference.py`).

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The `config.json` fields the encoder reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` (learned positions) is implemented.
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn two() -> usize {
    2
}

fn eps() -> f64 {
    1e-12
}

fn absolute() -> String {
    "absolute".into()
}

/// `hidden_act`, as Hugging Face names it; another value is a config error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact, with erf.
    #[default]
    Gelu,
    /// The tanh approximation.
    GeluNew,
    GeluPytorchTanh,
    Relu,
}

impl Activation {
    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluNew | Activation::GeluPytorchTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    heads: usize,
    max_positions: usize,
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    act: Activation,
}

impl Bert {
    /// The encoder's weights, at the root of the file or under `bert.` (as in
    /// checkpoints saved with a task head).
    pub fn load(vb: VarBuilder, c: &Config) -> Result<Bert> {
        ensure!(
            c.position_embedding_type == "absolute",
            "position_embedding_type {:?} is not supported (only \"absolute\")",
            c.position_embedding_type
        );
        ensure!(
            c.num_attention_heads > 0 && c.hidden_size.is_multiple_of(c.num_attention_heads),
            "hidden_size {} is not a multiple of num_attention_heads {}",
            c.hidden_size,
            c.num_attention_heads
        );
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            bail!(
                "cannot find tensor embeddings.word_embeddings.weight (nor bert.embeddings.word_embeddings.weight): \
                 not a BERT checkpoint"
            );
        };
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let embeddings = Embeddings {
            word: embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            position: embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            token_type: embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            norm: layer_norm(h, c.layer_norm_eps, e.pp("LayerNorm"))?,
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let (a, s) = (l.pp("attention"), l.pp("attention.self"));
                Ok(Layer {
                    query: linear(h, h, s.pp("query"))?,
                    key: linear(h, h, s.pp("key"))?,
                    value: linear(h, h, s.pp("value"))?,
                    attention_out: linear(h, h, a.pp("output.dense"))?,
                    attention_norm: layer_norm(h, c.layer_norm_eps, a.pp("output.LayerNorm"))?,
                    intermediate: linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                    output: linear(c.intermediate_size, h, l.pp("output.dense"))?,
                    output_norm: layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
                    act: c.hidden_act,
                })
            })
            .collect::<Result<Vec<_>>>()
            .context("an encoder layer")?;
        Ok(Bert { embeddings, layers, heads: c.num_attention_heads, max_positions: c.max_position_embeddings })
    }

    /// The last hidden state, `(batch, seq, hidden)`, of `input_ids`
    /// `(batch, seq)`; `attention_mask` is 1 for a token and 0 for padding,
    /// which no token attends to.
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (_, seq) = input_ids.dims2()?;
        ensure!(seq <= self.max_positions, "{seq} tokens, the model has {} positions", self.max_positions);
        let positions = Tensor::arange(0u32, seq as u32, input_ids.device())?;
        let e = &self.embeddings;
        let x = (e.word.forward(input_ids)? + e.token_type.forward(token_type_ids)?)?
            .broadcast_add(&e.position.forward(&positions)?)?;
        let mut x = e.norm.forward(&x)?;
        // 0 where attended, the lowest f32 where masked: added to the scores,
        // softmax gives padding a weight of exactly 0.
        let (batch, _) = attention_mask.dims2()?;
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(-1.0, 1.0)?
            .affine(f64::from(f32::MIN), 0.0)?
            .reshape((batch, 1, 1, seq))?;
        for layer in &self.layers {
            x = layer.forward(&x, &mask, self.heads)?;
        }
        Ok(x)
    }
}

impl Layer {
    fn forward(&self, x: &Tensor, mask: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let d = h / heads;
        let split = |t: Tensor| t.reshape((b, s, heads, d))?.transpose(1, 2)?.contiguous();
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, h))?;
        let a = self.attention_norm.forward(&(self.attention_out.forward(&context)? + x)?)?;
        let i = self.act.apply(&self.intermediate.forward(&a)?)?;
        self.output_norm.forward(&(self.output.forward(&i)? + &a)?)
    }
}
