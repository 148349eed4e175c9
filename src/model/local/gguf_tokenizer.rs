//! The tokenizer, special tokens and chat template of a GGUF file, built from its
//! `tokenizer.ggml.*` and `tokenizer.chat_template` metadata, so that a `.gguf` alone is enough to
//! run a model.
//!
//! The result is an ordinary [`tokenizers::Tokenizer`], so the rest of the engine does not know
//! where it came from. Two vocabulary kinds are supported, the ones llama.cpp calls BPE and SPM:
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE from `tokens` and `merges`. The text is first
//!   split by the regular expressions llama.cpp uses for the file's `tokenizer.ggml.pre` (see
//!   [`PreTokenizer`]), each split keeping both the matches and the text between them, as
//!   llama.cpp's `unicode_regex_split` does.
//! - `tokenizer.ggml.model = "llama"`: a SentencePiece vocabulary with `scores`, converted the way
//!   Hugging Face's `LlamaConverter` does: BPE whose merges come from the scores, byte fallback to
//!   the `<0xNN>` tokens, spaces written as `▁`, and a `▁` prepended to the text when
//!   `tokenizer.ggml.add_space_prefix` (default true) says so.
//!
//! Tokens of type control (3), user-defined (4) and unknown (2) become added tokens, the control
//! and unknown ones special, so that `<|im_start|>` or `<tool_call>` in a rendered prompt encode
//! as single ids, as llama.cpp's tokenizer does when it parses special tokens.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::utils::Sequence as NormalizerSequence;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// GGUF metadata, as candle reads it.
pub type Metadata = HashMap<String, Value>;

/// Why a tokenizer could not be built from a GGUF file's metadata. `model` names the file.
#[derive(Debug, thiserror::Error)]
pub enum GgufTokenizerError {
    #[error("`{model}`: GGUF metadata has no `{key}`, so the model has no tokenizer; give `tokenizer = \"…/tokenizer.json\"`")]
    Missing { model: String, key: String },
    #[error("`{model}`: GGUF metadata `{key}` is malformed: {message}")]
    Malformed {
        model: String,
        key: String,
        message: String,
    },
    #[error("`{model}`: GGUF metadata `{key}` = \"{value}\" is not supported (supported: {supported}); give `tokenizer = \"…/tokenizer.json\"`")]
    Unsupported {
        model: String,
        key: String,
        value: String,
        supported: String,
    },
    #[error("`{model}`: the tokenizer from GGUF metadata could not be built: {message}")]
    Build { model: String, message: String },
}

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_SCORES: &str = "tokenizer.ggml.scores";

/// GPT-2's split, and the second step of several others.
const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's split, as llama.cpp adapts it (contractions spelled out instead of `(?i:...)`).
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: Llama 3's with single digits.
const QWEN2_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizers of llama.cpp (`llama-vocab.cpp`, `llm_tokenizer_bpe`) that this module
/// knows, by the `tokenizer.ggml.pre` names that select them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// `default`: punctuation runs, then GPT-2's split, then digit runs, then digit triples.
    Default,
    /// `gpt-2`, `phi-2`.
    Gpt2,
    /// `llama3`, `llama-v3`, `llama-bpe`: a piece that is itself a token is not merged further.
    Llama3,
    /// `qwen2`, `deepseek-r1-qwen`, `stablelm2`.
    Qwen2,
    /// `smollm`, `starcoder`, `refact`: every digit alone, then GPT-2's split.
    Smollm,
}

/// `(name, pre-tokenizer)` for every supported `tokenizer.ggml.pre`.
const PRE_TOKENIZERS: [(&str, PreTokenizer); 12] = [
    ("default", PreTokenizer::Default),
    ("gpt-2", PreTokenizer::Gpt2),
    ("phi-2", PreTokenizer::Gpt2),
    ("llama3", PreTokenizer::Llama3),
    ("llama-v3", PreTokenizer::Llama3),
    ("llama-bpe", PreTokenizer::Llama3),
    ("qwen2", PreTokenizer::Qwen2),
    ("deepseek-r1-qwen", PreTokenizer::Qwen2),
    ("stablelm2", PreTokenizer::Qwen2),
    ("smollm", PreTokenizer::Smollm),
    ("starcoder", PreTokenizer::Smollm),
    ("refact", PreTokenizer::Smollm),
];

impl PreTokenizer {
    fn from_name(name: &str) -> Option<PreTokenizer> {
        PRE_TOKENIZERS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, pre)| *pre)
    }

    /// The regular expressions applied in turn, each to every piece the previous one left.
    fn regexes(self) -> &'static [&'static str] {
        match self {
            PreTokenizer::Default => &[
                r"[\p{P}\$\+<=>\^~\|]+",
                GPT2_REGEX,
                r"\p{N}+",
                "[0-9][0-9][0-9]",
            ],
            PreTokenizer::Gpt2 => &[GPT2_REGEX],
            PreTokenizer::Llama3 => &[LLAMA3_REGEX],
            PreTokenizer::Qwen2 => &[QWEN2_REGEX],
            PreTokenizer::Smollm => &[r"\p{N}", GPT2_REGEX],
        }
    }

    /// llama.cpp's `ignore_merges`: a whole piece found in the vocabulary is one token.
    fn ignore_merges(self) -> bool {
        self == PreTokenizer::Llama3
    }
}

/// Special tokens, stop ids and chat template from GGUF metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufSpecials {
    /// The text of `tokenizer.ggml.bos_token_id`, for templates that write `bos_token`.
    pub bos_token: Option<String>,
    /// The text of `tokenizer.ggml.eos_token_id`.
    pub eos_token: Option<String>,
    /// `eos_token_id` and `eot_token_id`, in that order, without repeats: ids that end a turn.
    pub stop_ids: Vec<u32>,
    /// `tokenizer.ggml.add_bos_token`. Prompts are rendered by templates that write the BOS
    /// text themselves, so the engine never adds one; kept for reports and callers that encode
    /// raw text.
    pub add_bos: bool,
    /// `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

/// Reads metadata for one model file, with errors that name it.
struct Reader<'a> {
    metadata: &'a Metadata,
    model: &'a str,
}

impl<'a> Reader<'a> {
    fn malformed(&self, key: &str, message: impl ToString) -> GgufTokenizerError {
        GgufTokenizerError::Malformed {
            model: self.model.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    fn required(&self, key: &str) -> Result<&'a Value, GgufTokenizerError> {
        self.metadata
            .get(key)
            .ok_or_else(|| GgufTokenizerError::Missing {
                model: self.model.to_string(),
                key: key.to_string(),
            })
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, GgufTokenizerError> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.malformed(key, "expected a string")),
        }
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, GgufTokenizerError> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(value) => integer(value)
                .map(Some)
                .ok_or_else(|| self.malformed(key, "expected an integer")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, GgufTokenizerError> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(_) => Err(self.malformed(key, "expected a boolean")),
        }
    }

    fn array(&self, key: &str) -> Result<&'a [Value], GgufTokenizerError> {
        match self.required(key)? {
            Value::Array(values) => Ok(values),
            _ => Err(self.malformed(key, "expected an array")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<&'a str>, GgufTokenizerError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(index, value)| match value {
                Value::String(text) => Ok(text.as_str()),
                _ => Err(self.malformed(key, format!("item {index} is not a string"))),
            })
            .collect()
    }

    /// `tokenizer.ggml.token_type`, one per token; absent means every token is normal.
    fn token_types(&self, n_tokens: usize) -> Result<Vec<i64>, GgufTokenizerError> {
        if !self.metadata.contains_key(KEY_TYPES) {
            return Ok(vec![1; n_tokens]);
        }
        let types = self
            .array(KEY_TYPES)?
            .iter()
            .enumerate()
            .map(|(index, value)| {
                integer(value).ok_or_else(|| {
                    self.malformed(KEY_TYPES, format!("item {index} is not an integer"))
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;
        if types.len() != n_tokens {
            return Err(self.malformed(
                KEY_TYPES,
                format!("{} types for {n_tokens} tokens", types.len()),
            ));
        }
        Ok(types)
    }

    /// The text of the token whose id is stored under `key`, when there is one.
    fn token_id(&self, key: &str, tokens: &[&str]) -> Result<Option<u32>, GgufTokenizerError> {
        match self.integer(key)? {
            None => Ok(None),
            // Some converters write -1 (or its unsigned image) for "no such token".
            Some(id) if id < 0 || id as usize >= tokens.len() => Ok(None),
            Some(id) => Ok(Some(id as u32)),
        }
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::U8(v) => Some(i64::from(*v)),
        Value::I8(v) => Some(i64::from(*v)),
        Value::U16(v) => Some(i64::from(*v)),
        Value::I16(v) => Some(i64::from(*v)),
        Value::U32(v) => Some(i64::from(*v)),
        Value::I32(v) => Some(i64::from(*v)),
        Value::U64(v) => i64::try_from(*v).ok(),
        Value::I64(v) => Some(*v),
        _ => None,
    }
}

/// Special tokens, stop ids and the chat template of a GGUF file. `model` names the file in
/// errors.
pub fn specials(metadata: &Metadata, model: &str) -> Result<GgufSpecials, GgufTokenizerError> {
    let reader = Reader { metadata, model };
    let tokens = if metadata.contains_key(KEY_TOKENS) {
        reader.strings(KEY_TOKENS)?
    } else {
        Vec::new()
    };
    let text = |id: Option<u32>| id.map(|id| tokens[id as usize].to_string());
    let bos = reader.token_id("tokenizer.ggml.bos_token_id", &tokens)?;
    let eos = reader.token_id("tokenizer.ggml.eos_token_id", &tokens)?;
    let eot = reader.token_id("tokenizer.ggml.eot_token_id", &tokens)?;
    let mut stop_ids = Vec::new();
    for id in [eos, eot].into_iter().flatten() {
        if !stop_ids.contains(&id) {
            stop_ids.push(id);
        }
    }
    let vocabulary = reader.string(KEY_MODEL)?;
    Ok(GgufSpecials {
        bos_token: text(bos),
        eos_token: text(eos),
        stop_ids,
        // llama.cpp adds BOS by default for SentencePiece vocabularies only.
        add_bos: reader
            .boolean("tokenizer.ggml.add_bos_token")?
            .unwrap_or(vocabulary == Some("llama")),
        chat_template: reader
            .string("tokenizer.chat_template")?
            .map(str::to_string),
    })
}

/// The tokenizer of a GGUF file, from its `tokenizer.ggml.*` metadata. `model` names the file in
/// errors.
pub fn tokenizer(metadata: &Metadata, model: &str) -> Result<Tokenizer, GgufTokenizerError> {
    let reader = Reader { metadata, model };
    let vocabulary = reader.required(KEY_MODEL)?;
    let Value::String(vocabulary) = vocabulary else {
        return Err(reader.malformed(KEY_MODEL, "expected a string"));
    };
    let tokens = reader.strings(KEY_TOKENS)?;
    let types = reader.token_types(tokens.len())?;
    let mut tokenizer = match vocabulary.as_str() {
        "gpt2" => byte_level_bpe(&reader, &tokens)?,
        "llama" => sentencepiece_bpe(&reader, &tokens, &types)?,
        other => {
            return Err(GgufTokenizerError::Unsupported {
                model: model.to_string(),
                key: KEY_MODEL.to_string(),
                value: other.to_string(),
                supported: "\"gpt2\" (byte-level BPE), \"llama\" (SentencePiece)".to_string(),
            })
        }
    };
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, kind)| matches!(**kind, TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN))
        .map(|(token, kind)| {
            AddedToken::from(token.to_string(), *kind != TYPE_USER_DEFINED).normalized(false)
        })
        .collect();
    tokenizer
        .add_special_tokens(added)
        .map_err(|e| GgufTokenizerError::Build {
            model: model.to_string(),
            message: e.to_string(),
        })?;
    Ok(tokenizer)
}

/// `gpt2` vocabularies: byte-level BPE behind llama.cpp's split for `tokenizer.ggml.pre`.
fn byte_level_bpe(reader: &Reader, tokens: &[&str]) -> Result<Tokenizer, GgufTokenizerError> {
    let build_error = |message: String| GgufTokenizerError::Build {
        model: reader.model.to_string(),
        message,
    };
    let pre_name = reader
        .string(KEY_PRE)?
        // llama.cpp falls back to `default` (with a warning about quality) when the key is absent.
        .unwrap_or("default");
    let pre = PreTokenizer::from_name(pre_name).ok_or_else(|| GgufTokenizerError::Unsupported {
        model: reader.model.to_string(),
        key: KEY_PRE.to_string(),
        value: pre_name.to_string(),
        supported: PRE_TOKENIZERS
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let merges = reader
        .strings(KEY_MERGES)?
        .into_iter()
        .enumerate()
        .map(|(index, merge)| {
            // A merge is "left right"; llama.cpp looks for the space from the second byte on, so
            // a left side that is itself a space-like symbol still splits correctly.
            let cut = merge
                .char_indices()
                .skip(1)
                .find(|(_, c)| *c == ' ')
                .map(|(at, _)| at)
                .ok_or_else(|| {
                    reader.malformed(
                        KEY_MERGES,
                        format!("item {index} has no space: \"{merge}\""),
                    )
                })?;
            Ok((merge[..cut].to_string(), merge[cut + 1..].to_string()))
        })
        .collect::<Result<Vec<_>, GgufTokenizerError>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .ignore_merges(pre.ignore_merges())
        .build()
        .map_err(|e| build_error(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for regex in pre.regexes() {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| build_error(format!("pre-tokenizer `{pre_name}`: {e}")))?;
        steps.push(split.into());
    }
    // The splits above replace ByteLevel's own GPT-2 regex; it only maps bytes to symbols here.
    steps.push(ByteLevel::new(false, false, false).into());
    tokenizer.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, false, false)));
    Ok(tokenizer)
}

fn vocab(tokens: &[&str]) -> Vocab {
    let mut vocab = Vocab::default();
    for (id, token) in tokens.iter().enumerate() {
        // Of two equal tokens the later id wins, as in llama.cpp's `token_to_id`.
        vocab.insert(token.to_string(), id as u32);
    }
    vocab
}

/// `llama` vocabularies, the way Hugging Face's `LlamaConverter` turns a SentencePiece model
/// into BPE (legacy mode, which is what llama.cpp matches).
fn sentencepiece_bpe(
    reader: &Reader,
    tokens: &[&str],
    types: &[i64],
) -> Result<Tokenizer, GgufTokenizerError> {
    let scores: Vec<f64> = reader
        .array(KEY_SCORES)?
        .iter()
        .enumerate()
        .map(|(index, value)| match value {
            Value::F32(score) => Ok(f64::from(*score)),
            Value::F64(score) => Ok(*score),
            _ => Err(reader.malformed(KEY_SCORES, format!("item {index} is not a float"))),
        })
        .collect::<Result<_, _>>()?;
    if scores.len() != tokens.len() {
        return Err(reader.malformed(
            KEY_SCORES,
            format!("{} scores for {} tokens", scores.len(), tokens.len()),
        ));
    }
    let build_error = |message: String| GgufTokenizerError::Build {
        model: reader.model.to_string(),
        message,
    };
    let vocab = vocab(tokens);
    let merges = merges_from_scores(tokens, &scores, &vocab);
    let unknown = tokens
        .iter()
        .zip(types)
        .find(|(_, kind)| **kind == TYPE_UNKNOWN)
        .map(|(token, _)| token.to_string())
        .or_else(|| vocab.contains_key("<unk>").then(|| "<unk>".to_string()));
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true);
    if let Some(unknown) = unknown {
        builder = builder.unk_token(unknown);
    }
    let bpe = builder.build().map_err(|e| build_error(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let add_space_prefix = reader
        .boolean("tokenizer.ggml.add_space_prefix")?
        .unwrap_or(true);
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        normalizers.push(Prepend::new("▁".to_string()).into());
    }
    normalizers.push(
        Replace::new(" ", "▁")
            .map_err(|e| build_error(e.to_string()))?
            .into(),
    );
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(|e| build_error(e.to_string()))?;
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ")
            .map_err(|e| build_error(e.to_string()))?
            .into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// Merges from SentencePiece scores, as `transformers`' `generate_merges`: every split of every
/// token into two tokens is a merge; merges are ordered by the merged token's score, highest
/// first, then by the longer left and then the longer right side, ties kept in vocabulary order
/// (the pairs of one token by the ids of their sides).
fn merges_from_scores(tokens: &[&str], scores: &[f64], vocab: &Vocab) -> Vec<(String, String)> {
    struct Candidate {
        left: String,
        right: String,
        score: f64,
        left_chars: usize,
        right_chars: usize,
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for (token, score) in tokens.iter().zip(scores) {
        let mut local: Vec<(u32, u32, Candidate)> = Vec::new();
        for (at, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(at);
            if let (Some(&left_id), Some(&right_id)) = (vocab.get(left), vocab.get(right)) {
                local.push((
                    left_id,
                    right_id,
                    Candidate {
                        left: left.to_string(),
                        right: right.to_string(),
                        score: *score,
                        left_chars: left.chars().count(),
                        right_chars: right.chars().count(),
                    },
                ));
            }
        }
        local.sort_by_key(|(left_id, right_id, _)| (*left_id, *right_id));
        candidates.extend(local.into_iter().map(|(_, _, candidate)| candidate));
    }
    // A stable sort on the reversed key keeps equal keys in their original order, as Python's
    // `sorted(..., reverse=True)` does.
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.left_chars.cmp(&a.left_chars))
            .then(b.right_chars.cmp(&a.right_chars))
    });
    candidates
        .into_iter()
        .map(|candidate| (candidate.left, candidate.right))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
    }

    fn integers(items: &[i32]) -> Value {
        Value::Array(items.iter().map(|v| Value::I32(*v)).collect())
    }

    /// A byte-level BPE vocabulary with ChatML markers: every byte symbol of "hello world\n1"
    /// plus a few merges.
    fn gpt2_metadata(pre: &str) -> Metadata {
        let mut tokens = vec![
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<tool_call>",
            "h",
            "e",
            "l",
            "o",
            "Ġ",
            "w",
            "r",
            "d",
            "Ċ",
            "1",
            "2",
            "3",
            "he",
            "ll",
            "hell",
            "hello",
            "Ġw",
            "or",
            "Ġwor",
            "Ġworld",
            "ld",
            "12",
        ];
        let merges = [
            "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "1 2",
        ];
        let mut types = vec![3, 3, 3, 4];
        types.resize(tokens.len(), 1);
        // An unused token stays out of the added tokens.
        tokens.push("[PAD0]");
        types.push(5);
        let mut metadata = Metadata::new();
        metadata.insert(KEY_MODEL.into(), Value::String("gpt2".into()));
        metadata.insert(KEY_PRE.into(), Value::String(pre.into()));
        metadata.insert(KEY_TOKENS.into(), strings(&tokens));
        metadata.insert(KEY_TYPES.into(), integers(&types));
        metadata.insert(KEY_MERGES.into(), strings(&merges));
        metadata.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(1));
        metadata.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(2));
        metadata.insert("tokenizer.ggml.eot_token_id".into(), Value::U32(0));
        metadata.insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(false));
        metadata.insert(
            "tokenizer.chat_template".into(),
            Value::String("{{ messages }}".into()),
        );
        metadata
    }

    fn ids(tokenizer: &Tokenizer, text: &str) -> Vec<u32> {
        tokenizer.encode(text, false).unwrap().get_ids().to_vec()
    }

    #[test]
    fn byte_level_bpe_with_added_tokens() {
        let tokenizer = tokenizer(&gpt2_metadata("qwen2"), "tiny.gguf").unwrap();
        // "hello" merges fully; " world" through Ġw + or + ld; markers are single ids.
        assert_eq!(ids(&tokenizer, "hello world"), vec![19, 23]);
        assert_eq!(
            ids(&tokenizer, "<|im_start|>hello<|im_end|>\n<tool_call>"),
            vec![1, 19, 2, 12, 3]
        );
        // qwen2 splits digits one by one, so "12" never merges.
        assert_eq!(ids(&tokenizer, "123"), vec![13, 14, 15]);
        assert_eq!(
            tokenizer.decode(&[1, 19, 23, 12], false).unwrap(),
            "<|im_start|>hello world\n"
        );
        // Control tokens are special (skipped when asked), user-defined ones are not.
        assert_eq!(
            tokenizer.decode(&[1, 19, 3], true).unwrap(),
            "hello<tool_call>"
        );
        assert_eq!(tokenizer.token_to_id("[PAD0]"), Some(26));
    }

    #[test]
    fn pre_tokenizer_decides_digit_groups() {
        // gpt-2 keeps digit runs together, so "12" merges; smollm splits every digit.
        let gpt2 = tokenizer(&gpt2_metadata("gpt-2"), "tiny.gguf").unwrap();
        assert_eq!(ids(&gpt2, "123"), vec![25, 15]);
        let smollm = tokenizer(&gpt2_metadata("smollm"), "tiny.gguf").unwrap();
        assert_eq!(ids(&smollm, "123"), vec![13, 14, 15]);
        let llama3 = tokenizer(&gpt2_metadata("llama-bpe"), "tiny.gguf").unwrap();
        assert_eq!(ids(&llama3, "123"), vec![25, 15]);
        let default = tokenizer(&gpt2_metadata("default"), "tiny.gguf").unwrap();
        assert_eq!(ids(&default, "hello world"), vec![19, 23]);
    }

    #[test]
    fn specials_from_metadata() {
        let specials = specials(&gpt2_metadata("qwen2"), "tiny.gguf").unwrap();
        assert_eq!(
            specials,
            GgufSpecials {
                bos_token: Some("<|im_start|>".into()),
                eos_token: Some("<|im_end|>".into()),
                stop_ids: vec![2, 0],
                add_bos: false,
                chat_template: Some("{{ messages }}".into()),
            }
        );
    }

    #[test]
    fn unsupported_metadata_is_named() {
        let error = tokenizer(&gpt2_metadata("mystery-pre"), "models/x.gguf")
            .unwrap_err()
            .to_string();
        assert!(error.contains("models/x.gguf"), "{error}");
        assert!(error.contains("tokenizer.ggml.pre"), "{error}");
        assert!(error.contains("mystery-pre"), "{error}");

        let mut metadata = gpt2_metadata("qwen2");
        metadata.insert(KEY_MODEL.into(), Value::String("bert".into()));
        let error = tokenizer(&metadata, "models/x.gguf")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`tokenizer.ggml.model` = \"bert\""),
            "{error}"
        );

        metadata.remove(KEY_MODEL);
        let error = tokenizer(&metadata, "models/x.gguf")
            .unwrap_err()
            .to_string();
        assert!(error.contains("has no `tokenizer.ggml.model`"), "{error}");
    }

    /// A SentencePiece vocabulary: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then pieces with
    /// scores (higher merges first).
    fn llama_metadata(add_space_prefix: Option<bool>) -> Metadata {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![2, 3, 3];
        let mut scores = vec![0.0f32; 3];
        for byte in 0..=255u8 {
            tokens.push(format!("<0x{byte:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        let pieces = [
            ("▁", -1.0),
            ("a", -2.0),
            ("b", -3.0),
            ("c", -4.0),
            ("é", -5.0),
            ("ab", -6.0),
            ("▁ab", -7.0),
            ("▁a", -8.0),
            ("bc", -9.0),
            ("abc", -10.0),
        ];
        for (piece, score) in pieces {
            tokens.push(piece.into());
            types.push(1);
            scores.push(score);
        }
        let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let mut metadata = Metadata::new();
        metadata.insert(KEY_MODEL.into(), Value::String("llama".into()));
        metadata.insert(KEY_TOKENS.into(), strings(&token_refs));
        metadata.insert(KEY_TYPES.into(), integers(&types));
        metadata.insert(
            KEY_SCORES.into(),
            Value::Array(scores.into_iter().map(Value::F32).collect()),
        );
        metadata.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(1));
        metadata.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(2));
        if let Some(flag) = add_space_prefix {
            metadata.insert("tokenizer.ggml.add_space_prefix".into(), Value::Bool(flag));
        }
        metadata
    }

    /// Ids of the synthetic pieces: 259 + position in the list above.
    const SPACE: u32 = 259;
    const A: u32 = 260;
    const B: u32 = 261;
    const C: u32 = 262;
    const AB: u32 = 264;
    const SPACE_AB: u32 = 265;

    #[test]
    fn sentencepiece_merges_follow_scores() {
        let metadata = llama_metadata(None);
        let reader = Reader {
            metadata: &metadata,
            model: "spm.gguf",
        };
        let tokens = reader.strings(KEY_TOKENS).unwrap();
        let scores: Vec<f64> = match &metadata[KEY_SCORES] {
            Value::Array(values) => values
                .iter()
                .map(|v| f64::from(v.to_f32().unwrap()))
                .collect(),
            _ => unreachable!(),
        };
        let merges = merges_from_scores(&tokens, &scores, &vocab(&tokens));
        // By the merged token's score: ab (-6), ▁ab (-7), ▁a (-8), bc (-9), abc (-10). The two
        // splits of ▁ab, and those of abc, tie on score: the longer left side comes first.
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("a", "b"),
                ("▁a", "b"),
                ("▁", "ab"),
                ("▁", "a"),
                ("b", "c"),
                ("ab", "c"),
                ("a", "bc"),
            ]
        );
    }

    #[test]
    fn sentencepiece_vocabulary_encodes_like_llama_converter() {
        let spm = tokenizer(&llama_metadata(None), "spm.gguf").unwrap();
        // "ab c": normalized to "▁ab▁c"; ▁ab is one piece, ▁ and c stay apart.
        assert_eq!(ids(&spm, "ab c"), vec![SPACE_AB, SPACE, C]);
        // "abc" → "▁abc": a+b first (score -6), then ▁+ab (-7); c stays.
        assert_eq!(ids(&spm, "abc"), vec![SPACE_AB, C]);
        // "ba" has no merge; "é" is a piece; "ß" is not, so it falls back to its two bytes.
        assert_eq!(ids(&spm, "baé"), vec![SPACE, B, A, 263]);
        assert_eq!(ids(&spm, "ß"), vec![SPACE, 3 + 0xC3, 3 + 0x9F]);
        // Control tokens split the text; each following piece gets its own prefix space
        // (the legacy behaviour llama.cpp shares).
        assert_eq!(ids(&spm, "<s>ab"), vec![1, SPACE_AB]);
        assert_eq!(spm.decode(&[SPACE_AB, SPACE, C], false).unwrap(), "ab c");
        assert_eq!(
            spm.decode(&[SPACE, 3 + 0xC3, 3 + 0x9F], false).unwrap(),
            "ß"
        );

        let no_prefix = tokenizer(&llama_metadata(Some(false)), "spm.gguf").unwrap();
        assert_eq!(ids(&no_prefix, "ab c"), vec![AB, SPACE, C]);
        let specials = specials(&llama_metadata(None), "spm.gguf").unwrap();
        assert!(specials.add_bos);
        assert_eq!(specials.bos_token.as_deref(), Some("<s>"));
    }
}
