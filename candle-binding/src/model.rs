//! all-MiniLM-L6-v2 on candle: BERT, mean pooling over the attention mask, L2 norm.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::Tokenizer;

use crate::bert::{Bert, Config};

/// Files a model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The longest input, in tokens with `[CLS]` and `[SEP]`, embedded by default:
/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2. The model was
/// trained on 128-token inputs and has 512 positions; past 256 tokens the
/// embedding no longer improves, while attention costs grow with the square of
/// the length (a 512-token input takes ~4x the memory and time of 256).
pub const DEFAULT_MAX_TOKENS: usize = 256;

pub struct SimilarityModel {
    bert: Bert,
    tokenizer: Tokenizer,
    device: Device,
    max_positions: usize,
    sep_id: u32,
}

/// The tokens of one text, after truncation.
pub struct Tokens {
    pub ids: Vec<u32>,
    pub tokens: Vec<String>,
    /// True when the text had more tokens than the limit and was cut.
    pub truncated: bool,
}

/// One sentence embedding and how its text was read.
pub struct Embedding {
    /// L2-normalised.
    pub vector: Vec<f32>,
    /// Tokens embedded, `[CLS]` and `[SEP]` included.
    pub tokens: usize,
    /// True when the text was cut to the token limit.
    pub truncated: bool,
}

impl SimilarityModel {
    pub fn load(dir: &Path, use_cpu: bool) -> Result<SimilarityModel> {
        if !dir.is_dir() {
            bail!("model directory {} does not exist", dir.display());
        }
        for file in MODEL_FILES {
            if !dir.join(file).is_file() {
                bail!("model directory {} has no {file}", dir.display());
            }
        }
        let device = device(use_cpu)?;
        let config: Config =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).context("cannot read config.json")?)
                .context("config.json is not a BERT config")?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("cannot load tokenizer.json: {e}"))?;
        // Truncation is done per call (see `tokenize`), padding per batch.
        tokenizer.with_truncation(None).map_err(|e| anyhow::anyhow!("cannot configure the tokenizer: {e}"))?;
        tokenizer.with_padding(None);
        let sep_id = tokenizer.token_to_id("[SEP]").context("tokenizer.json has no [SEP] token")?;
        // SAFETY: the file is memory-mapped read-only; it must not be changed while loaded.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &device) }
            .context("cannot map model.safetensors")?;
        let bert = Bert::load(vb, &config).context("model.safetensors does not match config.json")?;
        Ok(SimilarityModel { bert, tokenizer, device, max_positions: config.max_position_embeddings, sep_id })
    }

    /// Effective maximum sequence length for a caller's `max_length` (≤ 0:
    /// [`DEFAULT_MAX_TOKENS`]); never more than the model's positions.
    pub fn max_len(&self, max_length: i32) -> usize {
        if max_length <= 0 {
            DEFAULT_MAX_TOKENS.min(self.max_positions)
        } else {
            (max_length as usize).clamp(2, self.max_positions)
        }
    }

    /// Tokenize with `[CLS] … [SEP]`, truncated to `max_length` tokens (keeping `[SEP]`).
    pub fn tokenize(&self, text: &str, max_length: i32) -> Result<Tokens> {
        if text.trim().is_empty() {
            bail!("text is empty");
        }
        let enc = self.tokenizer.encode(text, true).map_err(|e| anyhow::anyhow!("cannot tokenize: {e}"))?;
        let mut ids = enc.get_ids().to_vec();
        let mut tokens = enc.get_tokens().to_vec();
        let max = self.max_len(max_length);
        let truncated = ids.len() > max;
        if truncated {
            ids.truncate(max - 1);
            tokens.truncate(max - 1);
            ids.push(self.sep_id);
            tokens.push("[SEP]".to_string());
        }
        Ok(Tokens { ids, tokens, truncated })
    }

    /// L2-normalised sentence embeddings, one per text.
    pub fn embed(&self, texts: &[&str], max_length: i32) -> Result<Vec<Vec<f32>>> {
        Ok(self.embed_tokens(texts, max_length)?.into_iter().map(|e| e.vector).collect())
    }

    /// Sentence embeddings with their token counts, one per text.
    pub fn embed_tokens(&self, texts: &[&str], max_length: i32) -> Result<Vec<Embedding>> {
        if texts.is_empty() {
            bail!("no texts to embed");
        }
        let encoded = texts.iter().map(|t| self.tokenize(t, max_length)).collect::<Result<Vec<_>>>()?;
        let width = encoded.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(texts.len() * width);
        let mut mask = Vec::with_capacity(texts.len() * width);
        for t in &encoded {
            ids.extend(t.ids.iter().copied());
            mask.extend(std::iter::repeat_n(1u32, t.ids.len()));
            // Pad with id 0 ([PAD]) and mask 0: padded positions are ignored by
            // attention and by the pooling below.
            ids.extend(std::iter::repeat_n(0u32, width - t.ids.len()));
            mask.extend(std::iter::repeat_n(0u32, width - t.ids.len()));
        }
        let shape = (texts.len(), width);
        let input_ids = Tensor::from_vec(ids, shape, &self.device)?;
        let attention_mask = Tensor::from_vec(mask, shape, &self.device)?;
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = self.bert.forward(&input_ids, &token_type_ids, &attention_mask)?;
        // Mean pooling over the attention mask: sum(h * m) / sum(m).
        let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        let pooled = summed.broadcast_div(&counts)?;
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?;
        let normalised = pooled.broadcast_div(&norms)?;
        let vectors = normalised.to_vec2::<f32>()?;
        Ok(vectors
            .into_iter()
            .zip(encoded)
            .map(|(vector, t)| Embedding { vector, tokens: t.ids.len(), truncated: t.truncated })
            .collect())
    }
}

fn device(use_cpu: bool) -> Result<Device> {
    if use_cpu {
        return Ok(Device::Cpu);
    }
    #[cfg(feature = "cuda")]
    if let Ok(dev) = Device::new_cuda(0) {
        return Ok(dev);
    }
    #[cfg(feature = "metal")]
    if let Ok(dev) = Device::new_metal(0) {
        return Ok(dev);
    }
    Ok(Device::Cpu)
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
