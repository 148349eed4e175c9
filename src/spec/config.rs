//! `missions-bench.toml`: the models a run may use and the pairings that bind roles to them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::{parse_toml, SpecError, SpecErrors};
use super::ids::Role;
use super::suite::{find_key, find_key_in_table};

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
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Oracle => "oracle",
            Provider::Nop => "nop",
            Provider::Candle => "candle",
        }
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
    /// candle: 0 is greedy.
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    pub max_context: Option<usize>,
    pub max_new_tokens: Option<usize>,
    /// candle: start new trajectories from the cache of finished ones with the same beginning.
    pub share_prefixes: Option<bool>,
    /// candle: make every reply exactly one syntactically valid tool call.
    pub constrained_tool_calls: Option<bool>,
}

impl ModelConfig {
    /// Keys set that only `candle` models use.
    fn candle_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        for (key, set) in [
            ("path", self.path.is_some()),
            ("tokenizer", self.tokenizer.is_some()),
            ("chat_template", self.chat_template.is_some()),
            ("device", self.device.is_some()),
            ("dtype", self.dtype.is_some()),
            ("temperature", self.temperature.is_some()),
            ("top_p", self.top_p.is_some()),
            ("seed", self.seed.is_some()),
            ("max_context", self.max_context.is_some()),
            ("max_new_tokens", self.max_new_tokens.is_some()),
            ("share_prefixes", self.share_prefixes.is_some()),
            (
                "constrained_tool_calls",
                self.constrained_tool_calls.is_some(),
            ),
        ] {
            if set {
                keys.push(key);
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
    /// The config text, for the fingerprint (it holds names of key variables, never keys).
    pub source: String,
}

/// The default config, embedded in the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../../missions-bench.toml");

impl Config {
    pub fn parse(path: &Path, source: &str) -> Result<Config, SpecErrors> {
        let file: ConfigFile = parse_toml(path, source)?;
        let mut errors = Vec::new();
        for (name, model) in &file.models {
            let at = |field: &str, message: String| {
                let key = field.rsplit('.').next().unwrap_or(field);
                SpecError::at(
                    path,
                    source,
                    find_key_in_table(source, &format!("models.{name}"), key)
                        .or_else(|| find_key(source, name)),
                    field,
                    message,
                )
            };
            match model.provider {
                Provider::Candle => {
                    if model.path.is_none() {
                        errors.push(at(
                            &format!("models.{name}.path"),
                            format!("model `{name}`: a candle model needs `path`"),
                        ));
                    }
                    if let Some(top_p) = model.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
                        errors.push(at(
                            &format!("models.{name}.top_p"),
                            format!("top_p {top_p} is outside (0, 1]"),
                        ));
                    }
                    if let Some(t) = model.temperature.filter(|t| !(t.is_finite() && *t >= 0.0)) {
                        errors.push(at(
                            &format!("models.{name}.temperature"),
                            format!("temperature {t} must be 0 or more"),
                        ));
                    }
                }
                other => {
                    for key in model.candle_keys() {
                        errors.push(at(
                            &format!("models.{name}.{key}"),
                            format!(
                                "`{key}` is for candle models; `{name}` is {}",
                                other.as_str()
                            ),
                        ));
                    }
                }
            }
        }
        let mut pairings = BTreeMap::new();
        for (name, pairing) in &file.pairings {
            let at = |field: &str, message: String| {
                SpecError::at(
                    path,
                    source,
                    find_key(source, &format!("pairings.{name}"))
                        .or_else(|| find_key(source, name)),
                    field,
                    message,
                )
            };
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
            for (role, model) in resolved {
                match model {
                    None => errors.push(at(
                        &format!("pairings.{name}.{role}"),
                        format!("pairing `{name}` binds no model to role `{role}`"),
                    )),
                    Some(model) if !file.models.contains_key(&model) => errors.push(at(
                        &format!("pairings.{name}.{role}"),
                        format!("model `{model}` is not defined under [models]"),
                    )),
                    Some(model) => {
                        models.insert(role, model);
                    }
                }
            }
            pairings.insert(
                name.clone(),
                Pairing {
                    name: name.clone(),
                    models,
                },
            );
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
}
