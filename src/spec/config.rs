//! `missions-bench.toml`: the models a run may use and the pairings that bind roles to them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::{find_key, find_key_in_table};
use super::error::{parse_toml, SpecError, SpecErrors};
use super::ids::Role;

/// Where a model's answers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Replays the mission's hidden reference contract and solution through real tool calls.
    Oracle,
    /// Calls its role's final tool at once with empty arguments.
    #[default]
    Nop,
    /// A local model run in-process with candle.
    Candle,
    /// OpenAI Chat Completions: OpenAI or any compatible server.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Not a model: a role bound to it is served whole from a recorded run (its replies, tool
    /// calls and tool results, its workspace after each agent run) while the inputs match.
    Replay,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Oracle => "oracle",
            Provider::Nop => "nop",
            Provider::Candle => "candle",
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Replay => "replay",
        }
    }

    pub fn is_remote(self) -> bool {
        matches!(self, Provider::Openai | Provider::Anthropic)
    }
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricePerMtok {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub provider: Provider,
    #[serde(default)]
    pub description: String,
    pub price_per_mtok: Option<PricePerMtok>,
    /// candle: an HF folder, or a `.gguf` file.
    pub path: Option<String>,
    /// candle: `tokenizer.json` (default: beside the weights).
    pub tokenizer: Option<String>,
    /// candle: a Jinja chat template file that replaces the model's own.
    pub chat_template: Option<String>,
    /// candle: `cpu` or `cuda:N`.
    pub device: Option<String>,
    /// candle: `f32`, `bf16` or `f16` (safetensors; GGUF runs f32 activations).
    pub dtype: Option<String>,
    /// candle: 0 (default) is greedy.
    pub temperature: Option<f64>,
    /// candle: nucleus mass kept, in (0, 1]; 1 (default) keeps every token.
    pub top_p: Option<f64>,
    /// candle: the most likely tokens kept; 0 (default) keeps every token.
    pub top_k: Option<usize>,
    /// candle: drop tokens less likely than this times the most likely one, in [0, 1]; 0
    /// (default) is off.
    pub min_p: Option<f64>,
    /// candle: llama.cpp's repeat penalty over the trajectory's last 64 tokens, above 0; 1
    /// (default) is off.
    pub repetition_penalty: Option<f64>,
    /// candle: the model's seed, mixed with each agent run's own (default 0).
    pub seed: Option<u64>,
    pub max_context: Option<usize>,
    pub max_new_tokens: Option<usize>,
    /// candle: start new trajectories from the cache of finished ones with the same beginning.
    pub share_prefixes: Option<bool>,
    /// candle: make every reply exactly one syntactically valid tool call.
    pub constrained_tool_calls: Option<bool>,
    /// candle, GGUF weights: the matrix kernels, `auto` (default: the fastest this CPU runs),
    /// `avx512vnni`, `avx2`, `portable`, or `candle` (candle's own quantized matmul).
    pub kernels: Option<String>,
    /// candle, GGUF weights: threads of the matrix kernels (default: one per physical core).
    pub threads: Option<usize>,
    /// remote: the API root (`.../v1`); defaults to OpenAI's or Anthropic's.
    pub base_url: Option<String>,
    /// remote: the model name the server knows.
    pub model: Option<String>,
    /// remote: the environment variable that holds the API key (never the key itself).
    pub api_key_env: Option<String>,
    /// remote: calls in flight at once, over all agents.
    pub max_concurrency: Option<usize>,
    /// remote: the most one attempt may take, start to last byte.
    pub timeout_s: Option<f64>,
    /// remote: the longest silence inside a streamed reply.
    pub idle_timeout_s: Option<f64>,
    /// remote: attempts after the first, on 429, 5xx, broken connections and timeouts.
    pub max_retries: Option<u32>,
    /// remote: the first backoff wait; each later one doubles (with jitter).
    pub retry_initial_ms: Option<u64>,
    /// remote: fields added to every request body (`temperature`, `seed`, `top_p`, ...).
    pub params: Option<serde_json::Value>,
    /// remote: extra HTTP headers (not for keys: those come from `api_key_env`).
    pub headers: Option<BTreeMap<String, String>>,
    /// anthropic: prompt-cache TTL, `5m` (default), `1h` or `off`.
    pub cache_ttl: Option<String>,
    /// replay: the recorded run's report folder (`reports/<run-id>`).
    pub report: Option<String>,
    /// replay: the recorded pairing whose runs are served (default: the record's only one).
    pub pairing: Option<String>,
    /// replay: what happens once the run leaves the record: `halt` (default) ends the mission,
    /// `live` runs the rest on the recorded pairing's own models.
    pub on_divergence: Option<String>,
}

impl ModelConfig {
    /// The temperature this model samples at, where the config says: a `candle` model's
    /// `temperature` (0, greedy, when left out), a remote model's `params.temperature` (the
    /// server's own default when left out, unknown here); none for the oracle and nop.
    pub fn sampling_temperature(&self) -> Option<f64> {
        match self.provider {
            Provider::Candle => Some(self.temperature.unwrap_or(0.0)),
            Provider::Openai | Provider::Anthropic => self
                .params
                .as_ref()
                .and_then(|p| p.get("temperature"))
                .and_then(serde_json::Value::as_f64),
            Provider::Oracle | Provider::Nop | Provider::Replay => None,
        }
    }

    /// Every provider-specific key that is set, with the providers it is for.
    fn provider_keys(&self) -> Vec<(&'static str, &'static [Provider])> {
        const CANDLE: &[Provider] = &[Provider::Candle];
        const REMOTE: &[Provider] = &[Provider::Openai, Provider::Anthropic];
        const LIMITS: &[Provider] = &[Provider::Candle, Provider::Openai, Provider::Anthropic];
        const ANTHROPIC: &[Provider] = &[Provider::Anthropic];
        const REPLAY: &[Provider] = &[Provider::Replay];
        let mut keys = Vec::new();
        for (key, set, providers) in [
            ("path", self.path.is_some(), CANDLE),
            ("tokenizer", self.tokenizer.is_some(), CANDLE),
            ("chat_template", self.chat_template.is_some(), CANDLE),
            ("device", self.device.is_some(), CANDLE),
            ("dtype", self.dtype.is_some(), CANDLE),
            ("temperature", self.temperature.is_some(), CANDLE),
            ("top_p", self.top_p.is_some(), CANDLE),
            ("top_k", self.top_k.is_some(), CANDLE),
            ("min_p", self.min_p.is_some(), CANDLE),
            (
                "repetition_penalty",
                self.repetition_penalty.is_some(),
                CANDLE,
            ),
            ("seed", self.seed.is_some(), CANDLE),
            ("max_context", self.max_context.is_some(), CANDLE),
            ("max_new_tokens", self.max_new_tokens.is_some(), LIMITS),
            ("share_prefixes", self.share_prefixes.is_some(), CANDLE),
            (
                "constrained_tool_calls",
                self.constrained_tool_calls.is_some(),
                CANDLE,
            ),
            ("kernels", self.kernels.is_some(), CANDLE),
            ("threads", self.threads.is_some(), CANDLE),
            ("base_url", self.base_url.is_some(), REMOTE),
            ("model", self.model.is_some(), REMOTE),
            ("api_key_env", self.api_key_env.is_some(), REMOTE),
            ("max_concurrency", self.max_concurrency.is_some(), REMOTE),
            ("timeout_s", self.timeout_s.is_some(), REMOTE),
            ("idle_timeout_s", self.idle_timeout_s.is_some(), REMOTE),
            ("max_retries", self.max_retries.is_some(), REMOTE),
            ("retry_initial_ms", self.retry_initial_ms.is_some(), REMOTE),
            ("params", self.params.is_some(), REMOTE),
            ("headers", self.headers.is_some(), REMOTE),
            ("cache_ttl", self.cache_ttl.is_some(), ANTHROPIC),
            ("report", self.report.is_some(), REPLAY),
            ("pairing", self.pairing.is_some(), REPLAY),
            ("on_divergence", self.on_divergence.is_some(), REPLAY),
        ] {
            if set {
                keys.push((key, providers));
            }
        }
        keys
    }
}

/// A pairing as written: `validator` sets both validator roles; `subagent` defaults to the
/// orchestrator's model.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingFile {
    pub orchestrator: Option<String>,
    pub worker: Option<String>,
    pub validator: Option<String>,
    pub scrutiny: Option<String>,
    pub user_testing: Option<String>,
    pub subagent: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub default_pairing: String,
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    #[serde(default)]
    pub pairings: BTreeMap<String, PairingFile>,
    #[serde(default)]
    pub sandbox: SandboxConfig,
}

/// `[sandbox]`: how agent commands are confined and limited. Limits apply per command.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// `false` runs commands with only a session, a cleared environment, a timeout and an output
    /// cap.
    pub enabled: bool,
    pub memory: LimitValue,
    pub processes: LimitValue,
    pub file_size: LimitValue,
    pub cpu_s: LimitValue,
    /// What the mission's workspace, `$HOME` and `$TMPDIR` may hold together.
    pub disk: LimitValue,
    /// How many files, folders and links the mission's workspace, `$HOME` and `$TMPDIR` may
    /// hold together (the harness's `.git/` and `.mission/` not counted).
    pub files: CountValue,
    /// Folders commands may read beyond system folders, the suite environment and `PATH`.
    pub read: Vec<std::path::PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            enabled: true,
            memory: LimitValue(Some(4 << 30)),
            processes: LimitValue(Some(512)),
            file_size: LimitValue(Some(1 << 30)),
            cpu_s: LimitValue(Some(900)),
            disk: LimitValue(Some(8 << 30)),
            files: CountValue(Some(DEFAULT_FILES)),
            read: Vec::new(),
        }
    }
}

/// The default file-count quota. An honest mission stays far below it: the core suite's venv
/// (pytest, coverage) holds about 2,000 entries, a data-science venv 10,000 to 20,000, a web
/// app's `node_modules` 20,000 to 50,000. A flood of empty files costs a mission about half a
/// millisecond each (the ground truth's copies of the workspace and its test runs above all;
/// measured on the core suite's wordfreq), so this caps what a hostile agent can add to a
/// mission's time at about a minute.
pub const DEFAULT_FILES: u64 = 100_000;

/// A count: a whole number, or `"off"`. Sizes with units are refused (a file count has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountValue(pub Option<u64>);

impl CountValue {
    pub fn parse(text: &str) -> Result<CountValue, String> {
        let text = text.trim();
        if matches!(text, "off" | "unlimited" | "none") {
            return Ok(CountValue(None));
        }
        let digits: String = text.chars().filter(|c| *c != '_').collect();
        match digits.parse::<u64>() {
            Ok(0) => Err("0 would refuse every file; use \"off\" for no limit".to_string()),
            Ok(n) => Ok(CountValue(Some(n))),
            Err(_) => Err(format!("`{text}` is not a whole number or `off`")),
        }
    }
}

impl<'de> Deserialize<'de> for CountValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CountValue, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CountValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number, or \"off\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CountValue, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "{v} is negative; use \"off\" for no limit"
                    ))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CountValue, E> {
                CountValue::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<CountValue, E> {
                Err(E::custom(format!("{v} is not a whole number")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CountValue, E> {
                CountValue::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A limit: a number, a size with a unit (`512MiB`, `4 GiB`, `2G`), or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitValue(pub Option<u64>);

impl LimitValue {
    pub fn parse(text: &str) -> Result<LimitValue, String> {
        let text = text.trim();
        if matches!(text, "off" | "unlimited" | "none") {
            return Ok(LimitValue(None));
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a number, a size such as `512MiB`, or `off`"))?;
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "K" | "KB" | "KiB" | "k" => 1 << 10,
            "M" | "MB" | "MiB" => 1 << 20,
            "G" | "GB" | "GiB" => 1 << 30,
            "T" | "TB" | "TiB" => 1 << 40,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}`; use KiB, MiB, GiB or TiB"
                ))
            }
        };
        number
            .checked_mul(factor)
            .map(|n| LimitValue(Some(n)))
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl<'de> Deserialize<'de> for LimitValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LimitValue, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LimitValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, a size such as \"512MiB\", or \"off\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LimitValue, E> {
                u64::try_from(v)
                    .map(|v| LimitValue(Some(v)))
                    .map_err(|_| E::custom(format!("{v} is negative; use \"off\" for no limit")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LimitValue, E> {
                Ok(LimitValue(Some(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LimitValue, E> {
                LimitValue::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A pairing with a model for every role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    pub name: String,
    pub models: BTreeMap<Role, String>,
}

impl Pairing {
    pub fn model(&self, role: Role) -> &str {
        self.models
            .get(&role)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Returns a copy with some roles rebound; the name records the change (`oracle+worker=nop`).
    /// `validator` rebinds both validator roles.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> Result<Pairing, String> {
        let mut pairing = self.clone();
        for (role, model) in overrides {
            let roles: Vec<Role> = match role.as_str() {
                "validator" => vec![Role::Scrutiny, Role::UserTesting],
                other => vec![Role::parse(other).ok_or_else(|| {
                    format!("unknown role `{other}`; roles are orchestrator, worker, validator, scrutiny, user_testing, subagent")
                })?],
            };
            for role in roles {
                pairing.models.insert(role, model.clone());
            }
            pairing.name.push_str(&format!("+{role}={model}"));
        }
        Ok(pairing)
    }
}

/// The validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_pairing: String,
    pub models: BTreeMap<String, ModelConfig>,
    pub pairings: BTreeMap<String, Pairing>,
    pub sandbox: SandboxConfig,
    /// The config text, for the fingerprint (it holds names of key variables, never keys).
    pub source: String,
}

/// The default config, embedded in the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../../missions-bench.toml");

impl Config {
    pub fn parse(path: &Path, source: &str) -> Result<Config, SpecErrors> {
        let file: ConfigFile = parse_toml(path, source)?;
        let toml = ConfigToml { path, source };
        let mut errors = Vec::new();
        for (name, model) in &file.models {
            errors.extend(model_problems(name, model, &toml));
        }
        let mut pairings = BTreeMap::new();
        for (name, pairing) in &file.pairings {
            let resolved = resolve_pairing(name, pairing, &file.models, &toml);
            errors.extend(resolved.errors);
            pairings.insert(name.clone(), resolved.pairing);
        }
        if !file.pairings.contains_key(&file.default_pairing) {
            errors.push(SpecError::at(
                path,
                source,
                find_key(source, "default_pairing"),
                "default_pairing",
                format!("no pairing named `{}`", file.default_pairing),
            ));
        }
        if !errors.is_empty() {
            return Err(SpecErrors(errors));
        }
        Ok(Config {
            default_pairing: file.default_pairing,
            models: file.models,
            pairings,
            sandbox: file.sandbox,
            source: source.to_string(),
        })
    }

    pub fn default_config() -> Result<Config, SpecErrors> {
        Config::parse(Path::new("<embedded missions-bench.toml>"), DEFAULT_CONFIG)
    }

    /// A pairing by name; a bare model name means that model in every role.
    pub fn pairing(&self, name: &str) -> Result<Pairing, String> {
        if let Some(pairing) = self.pairings.get(name) {
            return Ok(pairing.clone());
        }
        if self.models.contains_key(name) {
            return Ok(Pairing {
                name: name.to_string(),
                models: Role::ALL
                    .into_iter()
                    .map(|r| (r, name.to_string()))
                    .collect(),
            });
        }
        Err(format!(
            "no pairing or model named `{name}`; pairings: {}; models: {}",
            self.pairings.keys().cloned().collect::<Vec<_>>().join(", "),
            self.models.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    }

    /// Checks that every model a pairing names exists.
    pub fn check_pairing(&self, pairing: &Pairing) -> Result<(), String> {
        for (role, model) in &pairing.models {
            if !self.models.contains_key(model) {
                return Err(format!(
                    "pairing `{}`: model `{model}` for role `{role}` is not defined under [models]",
                    pairing.name
                ));
            }
        }
        Ok(())
    }
}

/// `missions-bench.toml` as read, to point errors at the line of a key.
struct ConfigToml<'a> {
    path: &'a Path,
    source: &'a str,
}

impl ConfigToml<'_> {
    /// An error about `field` (`models.<name>.<key>`), at the line of its key in
    /// `[models.<name>]`, else at the line that names the model.
    fn at_model(&self, name: &str, field: &str, message: String) -> SpecError {
        let key = field.rsplit('.').next().unwrap_or(field);
        SpecError::at(
            self.path,
            self.source,
            find_key_in_table(self.source, &format!("models.{name}"), key)
                .or_else(|| find_key(self.source, name)),
            field,
            message,
        )
    }

    /// An error about `field` of pairing `name`, at the line that names the pairing.
    fn at_pairing(&self, name: &str, field: &str, message: String) -> SpecError {
        SpecError::at(
            self.path,
            self.source,
            find_key(self.source, &format!("pairings.{name}"))
                .or_else(|| find_key(self.source, name)),
            field,
            message,
        )
    }
}

/// What is wrong with model `name`: keys set for another provider, and its provider's own keys.
fn model_problems(name: &str, model: &ModelConfig, toml: &ConfigToml) -> Vec<SpecError> {
    let at = |field: &str, message: String| toml.at_model(name, field, message);
    let mut errors = Vec::new();
    for (key, providers) in model.provider_keys() {
        if providers.contains(&model.provider) {
            continue;
        }
        let names: Vec<&str> = providers.iter().map(|p| p.as_str()).collect();
        let hint = if model.provider.is_remote()
            && matches!(
                key,
                "temperature" | "top_p" | "top_k" | "min_p" | "repetition_penalty" | "seed"
            ) {
            format!(
                "; for {} models put it in `params`",
                model.provider.as_str()
            )
        } else {
            String::new()
        };
        errors.push(at(
            &format!("models.{name}.{key}"),
            format!(
                "`{key}` is for {} models; `{name}` is {}{hint}",
                names.join(" and "),
                model.provider.as_str()
            ),
        ));
    }
    match model.provider {
        Provider::Candle => {
            for (field, message) in candle_problems(name, model) {
                errors.push(at(&format!("models.{name}.{field}"), message));
            }
        }
        Provider::Openai | Provider::Anthropic => {
            for (field, message) in remote_problems(name, model) {
                errors.push(at(&format!("models.{name}.{field}"), message));
            }
        }
        Provider::Replay => {
            if model.report.is_none() {
                errors.push(at(
                    &format!("models.{name}.provider"),
                    format!(
                        "model `{name}`: a replay model needs `report`, the recorded run's folder"
                    ),
                ));
            }
            if let Some(mode) = &model.on_divergence {
                if DivergenceMode::parse(mode).is_none() {
                    errors.push(at(
                        &format!("models.{name}.on_divergence"),
                        format!("on_divergence `{mode}`: expected `halt` or `live`"),
                    ));
                }
            }
        }
        Provider::Oracle | Provider::Nop => {}
    }
    errors
}

/// What a replay does once the run leaves its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DivergenceMode {
    /// The mission halts (`replay_diverged`).
    #[default]
    Halt,
    /// The rest runs live, each replayed role on the recorded pairing's model for it.
    Live,
}

impl DivergenceMode {
    pub fn parse(text: &str) -> Option<DivergenceMode> {
        match text {
            "halt" => Some(DivergenceMode::Halt),
            "live" => Some(DivergenceMode::Live),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DivergenceMode::Halt => "halt",
            DivergenceMode::Live => "live",
        }
    }
}

/// What is wrong with a candle model's keys.
fn candle_problems(name: &str, model: &ModelConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if model.path.is_none() {
        problems.push((
            "path",
            format!("model `{name}`: a candle model needs `path`"),
        ));
    }
    if let Some(top_p) = model.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        problems.push(("top_p", format!("top_p {top_p} is outside (0, 1]")));
    }
    if let Some(t) = model.temperature.filter(|t| !(t.is_finite() && *t >= 0.0)) {
        problems.push(("temperature", format!("temperature {t} must be 0 or more")));
    }
    if let Some(p) = model.min_p.filter(|p| !(*p >= 0.0 && *p <= 1.0)) {
        problems.push(("min_p", format!("min_p {p} is outside [0, 1]")));
    }
    if let Some(r) = model
        .repetition_penalty
        .filter(|r| !(r.is_finite() && *r > 0.0))
    {
        problems.push((
            "repetition_penalty",
            format!("repetition_penalty {r} must be above 0 (1 is off)"),
        ));
    }
    problems
}

/// A pairing as resolved from its file, and what is wrong with it.
struct ResolvedPairing {
    /// The roles bound to a defined model.
    pairing: Pairing,
    errors: Vec<SpecError>,
}

/// Binds every role of pairing `name` to a model: `validator` stands for both validator roles,
/// and the subagent defaults to the orchestrator's model.
fn resolve_pairing(
    name: &str,
    pairing: &PairingFile,
    defined: &BTreeMap<String, ModelConfig>,
    toml: &ConfigToml,
) -> ResolvedPairing {
    let orchestrator = pairing.orchestrator.clone();
    let resolved = [
        (Role::Orchestrator, orchestrator.clone()),
        (Role::Worker, pairing.worker.clone()),
        (
            Role::Scrutiny,
            pairing
                .scrutiny
                .clone()
                .or_else(|| pairing.validator.clone()),
        ),
        (
            Role::UserTesting,
            pairing
                .user_testing
                .clone()
                .or_else(|| pairing.validator.clone()),
        ),
        (Role::Subagent, pairing.subagent.clone().or(orchestrator)),
    ];
    let mut models = BTreeMap::new();
    let mut errors = Vec::new();
    for (role, model) in resolved {
        match model {
            None => errors.push(toml.at_pairing(
                name,
                &format!("pairings.{name}.{role}"),
                format!("pairing `{name}` binds no model to role `{role}`"),
            )),
            Some(model) if !defined.contains_key(&model) => errors.push(toml.at_pairing(
                name,
                &format!("pairings.{name}.{role}"),
                format!("model `{model}` is not defined under [models]"),
            )),
            Some(model) => {
                models.insert(role, model);
            }
        }
    }
    ResolvedPairing {
        pairing: Pairing {
            name: name.to_string(),
            models,
        },
        errors,
    }
}

/// What is wrong with a remote model's keys.
fn remote_problems(name: &str, model: &ModelConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if model.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
        problems.push((
            "model",
            format!("model `{name}`: a remote model needs `model`, the name the server knows"),
        ));
    }
    if let Some(url) = &model.base_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push((
                "base_url",
                format!("base_url `{url}` must start with http:// or https://"),
            ));
        }
    }
    if let Some(var) = &model.api_key_env {
        let is_name = !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if !is_name {
            // Never echo the value: it may be the key itself.
            problems.push((
                "api_key_env",
                "api_key_env must name an environment variable (letters, digits, `_`), never hold the key itself".to_string(),
            ));
        }
    }
    if model.max_concurrency == Some(0) {
        problems.push((
            "max_concurrency",
            "max_concurrency must be at least 1".to_string(),
        ));
    }
    for (field, value) in [
        ("timeout_s", model.timeout_s),
        ("idle_timeout_s", model.idle_timeout_s),
    ] {
        if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
            problems.push((field, format!("{field} {v} must be more than 0")));
        }
    }
    if model.params.as_ref().is_some_and(|p| !p.is_object()) {
        problems.push(("params", "params must be a table".to_string()));
    }
    if let Some(headers) = &model.headers {
        for header in headers.keys() {
            let lower = header.to_ascii_lowercase();
            if lower == "authorization" || lower == "x-api-key" || lower == "api-key" {
                problems.push((
                    "headers",
                    format!("header `{header}` would put a key in the config; name its variable in api_key_env"),
                ));
            }
        }
    }
    if let Some(ttl) = &model.cache_ttl {
        if !matches!(ttl.as_str(), "5m" | "1h" | "off") {
            problems.push((
                "cache_ttl",
                format!("cache_ttl `{ttl}` must be `5m`, `1h` or `off`"),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_config_is_valid() {
        let config = Config::default_config().unwrap();
        let pairing = config.pairing(&config.default_pairing).unwrap();
        assert_eq!(pairing.model(Role::Worker), "oracle");
        assert_eq!(pairing.model(Role::Subagent), "oracle");
    }

    #[test]
    fn overrides_rename_the_pairing() {
        let config = Config::default_config().unwrap();
        let pairing = config
            .pairing("oracle")
            .unwrap()
            .with_overrides(&[("worker".into(), "nop".into())])
            .unwrap();
        assert_eq!(pairing.name, "oracle+worker=nop");
        assert_eq!(pairing.model(Role::Worker), "nop");
        assert_eq!(pairing.model(Role::Orchestrator), "oracle");
        let both = config
            .pairing("oracle")
            .unwrap()
            .with_overrides(&[("validator".into(), "nop".into())])
            .unwrap();
        assert_eq!(both.model(Role::Scrutiny), "nop");
        assert_eq!(both.model(Role::UserTesting), "nop");
        assert!(config
            .pairing("oracle")
            .unwrap()
            .with_overrides(&[("boss".into(), "nop".into())])
            .is_err());
    }

    #[test]
    fn errors_name_line_and_field() {
        let source = "default_pairing = \"p\"\n[models.a]\nprovider = \"oracle\"\n[pairings.p]\norchestrator = \"a\"\nworker = \"zzz\"\nvalidator = \"a\"\n";
        let errors = Config::parse(Path::new("c.toml"), source).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].field.as_deref(), Some("pairings.p.worker"));
        assert!(errors.0[0].message.contains("zzz"));
        let unknown = Config::parse(
            Path::new("c.toml"),
            "default_pairing = \"p\"\n[models.a]\nprovider = \"gpt\"\n",
        )
        .unwrap_err();
        assert_eq!(unknown.0[0].line, Some(3), "{unknown}");
        assert_eq!(unknown.0[0].field.as_deref(), Some("provider"));
    }

    #[test]
    fn sampling_keys_are_checked_and_located() {
        let model = |keys: &str| {
            format!(
                "default_pairing = \"p\"\n[models.m]\nprovider = \"candle\"\npath = \"m.gguf\"\n{keys}\n\
                 [pairings.p]\norchestrator = \"m\"\nworker = \"m\"\nvalidator = \"m\"\n"
            )
        };
        let config = Config::parse(
            Path::new("c.toml"),
            &model("temperature = 0.7\ntop_p = 0.95\ntop_k = 40\nmin_p = 0.05\nrepetition_penalty = 1.1\nseed = 3"),
        )
        .unwrap();
        let m = &config.models["m"];
        assert_eq!(
            (m.top_k, m.min_p, m.repetition_penalty, m.seed),
            (Some(40), Some(0.05), Some(1.1), Some(3))
        );
        assert_eq!(m.sampling_temperature(), Some(0.7));
        for (keys, field, line, words) in [
            ("min_p = 1.5", "models.m.min_p", 5, "outside [0, 1]"),
            ("top_p = 0", "models.m.top_p", 5, "outside (0, 1]"),
            ("temperature = -1", "models.m.temperature", 5, "0 or more"),
            (
                "seed = 1\nrepetition_penalty = 0",
                "models.m.repetition_penalty",
                6,
                "above 0",
            ),
        ] {
            let errors = Config::parse(Path::new("c.toml"), &model(keys)).unwrap_err();
            assert_eq!(errors.0.len(), 1, "{errors}");
            assert_eq!(errors.0[0].field.as_deref(), Some(field), "{errors}");
            assert_eq!(errors.0[0].line, Some(line), "{errors}");
            assert!(errors.0[0].message.contains(words), "{errors}");
        }
        // A remote model's sampling goes in `params`, and its temperature is read from there.
        let remote = Config::parse(
            Path::new("c.toml"),
            "default_pairing = \"p\"\n[models.r]\nprovider = \"openai\"\nmodel = \"x\"\ntop_k = 40\n",
        )
        .unwrap_err();
        assert!(
            remote.to_string().contains("put it in `params`"),
            "{remote}"
        );
        let remote = ModelConfig {
            provider: Provider::Openai,
            params: Some(serde_json::json!({"temperature": 0.2})),
            ..ModelConfig::default()
        };
        assert_eq!(remote.sampling_temperature(), Some(0.2));
        assert_eq!(ModelConfig::default().sampling_temperature(), None);
    }

    #[test]
    fn sandbox_limits_take_sizes_numbers_and_off() {
        assert_eq!(LimitValue::parse("512MiB"), Ok(LimitValue(Some(512 << 20))));
        assert_eq!(LimitValue::parse("4 GiB"), Ok(LimitValue(Some(4 << 30))));
        assert_eq!(LimitValue::parse("2G"), Ok(LimitValue(Some(2 << 30))));
        assert_eq!(LimitValue::parse("100"), Ok(LimitValue(Some(100))));
        assert_eq!(LimitValue::parse("off"), Ok(LimitValue(None)));
        assert!(LimitValue::parse("4 parsecs")
            .unwrap_err()
            .contains("parsecs"));
        assert!(LimitValue::parse("lots").is_err());
        let config = Config::parse(
            Path::new("c.toml"),
            "default_pairing = \"p\"\n[models.a]\nprovider = \"oracle\"\n[pairings.p]\norchestrator = \"a\"\nworker = \"a\"\nvalidator = \"a\"\n[sandbox]\nmemory = \"256MiB\"\nprocesses = 64\ndisk = \"off\"\n",
        )
        .unwrap();
        assert_eq!(config.sandbox.memory, LimitValue(Some(256 << 20)));
        assert_eq!(config.sandbox.processes, LimitValue(Some(64)));
        assert_eq!(config.sandbox.disk, LimitValue(None));
        assert_eq!(config.sandbox.cpu_s, LimitValue(Some(900)));
        let error = Config::parse(
            Path::new("c.toml"),
            "default_pairing = \"p\"\n[sandbox]\nenabled = true\nmemory = \"4 parsecs\"\n",
        )
        .unwrap_err();
        assert_eq!(error.0[0].line, Some(4), "{error}");
        assert!(error.to_string().contains("parsecs"), "{error}");
        let negative = Config::parse(
            Path::new("c.toml"),
            "default_pairing = \"p\"\n[sandbox]\ncpu_s = -1\n",
        )
        .unwrap_err();
        assert_eq!(negative.0[0].line, Some(3), "{negative}");
    }

    #[test]
    fn the_file_quota_takes_whole_numbers_and_off() {
        assert_eq!(CountValue::parse("100000"), Ok(CountValue(Some(100_000))));
        assert_eq!(CountValue::parse("100_000"), Ok(CountValue(Some(100_000))));
        assert_eq!(CountValue::parse("off"), Ok(CountValue(None)));
        assert!(CountValue::parse("0").unwrap_err().contains("off"));
        assert!(CountValue::parse("10k")
            .unwrap_err()
            .contains("whole number"));
        let parse = |line: &str| {
            Config::parse(
                Path::new("c.toml"),
                &format!("default_pairing = \"p\"\n[models.a]\nprovider = \"oracle\"\n[pairings.p]\norchestrator = \"a\"\nworker = \"a\"\nvalidator = \"a\"\n[sandbox]\nmemory = \"1GiB\"\n{line}\n"),
            )
        };
        assert_eq!(
            SandboxConfig::default().files,
            CountValue(Some(DEFAULT_FILES))
        );
        assert_eq!(
            parse("files = 5000").unwrap().sandbox.files,
            CountValue(Some(5000))
        );
        assert_eq!(
            parse("files = \"off\"").unwrap().sandbox.files,
            CountValue(None)
        );
        assert_eq!(
            parse("disk = \"off\"").unwrap().sandbox.files,
            CountValue(Some(DEFAULT_FILES))
        );
        for (value, words) in [
            ("\"64MiB\"", "whole number"),
            ("-1", "negative"),
            ("2.5", "whole number"),
            ("0", "refuse every file"),
            ("true", "whole number"),
        ] {
            let errors = parse(&format!("files = {value}")).unwrap_err();
            assert_eq!(errors.0.len(), 1, "{errors}");
            let error = &errors.0[0];
            assert_eq!(error.line, Some(10), "{value}: {errors}");
            assert_eq!(error.field.as_deref(), Some("files"), "{value}: {errors}");
            assert!(errors.to_string().contains("c.toml"), "{errors}");
            assert!(error.message.contains(words), "{value}: {errors}");
        }
    }
}
