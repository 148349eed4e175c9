//! The tool registry. A tool is one handler that owns its name, its description, its argument
//! type and what it does; its JSON schema comes from the argument type ([`super::schema`]). A
//! role's tools are one [`Registry`], built by listing handlers: it gives the specs the model sees
//! and dispatches the calls, so a tool is reachable exactly when the role lists it.
//!
//! A handler answers the model ([`ToolReply`], errors included: a model's mistake goes back to
//! the model), or fails the harness ([`ToolFatal`]: an I/O failure of the harness's own, which
//! ends the agent run and is never shown to the model as its mistake).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{decode, ToolErrorKind, ToolReply, ToolSpec};

/// A failure of the harness while it handled a call (saving what the model handed in, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFatal {
    pub message: String,
}

impl ToolFatal {
    pub fn new(message: impl Into<String>) -> ToolFatal {
        ToolFatal {
            message: message.into(),
        }
    }
}

/// What a call comes to: a reply for the model, or a harness failure.
pub type CallResult = Result<ToolReply, ToolFatal>;

/// One tool, over the context `C` its role gives it.
#[async_trait]
pub trait Tool<C: Send + ?Sized>: Send + Sync {
    /// The arguments, decoded from the model's JSON; the tool's schema is derived from them.
    type Args: DeserializeOwned + JsonSchema + Send;

    fn name(&self) -> &'static str;

    fn description(&self) -> &'static str;

    async fn handle(&self, context: &mut C, args: Self::Args) -> CallResult;
}

/// A tool with its argument type erased, as the registry holds it.
#[async_trait]
trait Handler<C: Send + ?Sized>: Send + Sync {
    fn name(&self) -> &'static str;

    fn spec(&self) -> ToolSpec;

    /// Whether `arguments` decode into the tool's argument type, and the error if not.
    fn decodes(&self, arguments: Value) -> Result<(), String>;

    async fn call(&self, context: &mut C, arguments: Value) -> CallResult;
}

#[async_trait]
impl<C: Send + ?Sized, T: Tool<C>> Handler<C> for T {
    fn name(&self) -> &'static str {
        Tool::name(self)
    }

    fn spec(&self) -> ToolSpec {
        tool_spec(self)
    }

    fn decodes(&self, arguments: Value) -> Result<(), String> {
        if let Some(message) = super::decode_error(&arguments) {
            return Err(message);
        }
        serde_json::from_value::<T::Args>(arguments)
            .map(|_| ())
            .map_err(|e| crate::spec::error::plain_serde_message(&e.to_string()))
    }

    async fn call(&self, context: &mut C, arguments: Value) -> CallResult {
        match decode::<T::Args>(Tool::name(self), arguments) {
            Ok(args) => self.handle(context, args).await,
            Err(reply) => Ok(reply),
        }
    }
}

/// The spec a model sees for `tool`.
pub fn tool_spec<C: Send + ?Sized, T: Tool<C>>(tool: &T) -> ToolSpec {
    ToolSpec {
        name: tool.name().to_string(),
        description: tool.description().to_string(),
        parameters: super::schema::parameters::<T::Args>(),
    }
}

/// The tools of one role, in the order the model sees them.
pub struct Registry<C: Send + ?Sized> {
    handlers: Vec<Box<dyn Handler<C>>>,
}

impl<C: Send + ?Sized> Default for Registry<C> {
    fn default() -> Registry<C> {
        Registry {
            handlers: Vec::new(),
        }
    }
}

impl<C: Send + ?Sized> Registry<C> {
    pub fn new() -> Registry<C> {
        Registry::default()
    }

    /// Adds `tool` at the end of the list.
    pub fn with(mut self, tool: impl Tool<C> + 'static) -> Registry<C> {
        self.handlers.push(Box::new(tool));
        self
    }

    pub fn contains(&self, name: &str) -> bool {
        self.handlers.iter().any(|h| h.name() == name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.handlers.iter().map(|h| h.name()).collect()
    }

    /// Whether `arguments` decode into the arguments of the tool named `name` (`None`: the role
    /// lists no such tool). Nothing is run.
    pub fn decodes(&self, name: &str, arguments: Value) -> Option<Result<(), String>> {
        let handler = self.handlers.iter().find(|h| h.name() == name)?;
        Some(handler.decodes(arguments))
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.handlers.iter().map(|h| h.spec()).collect()
    }

    /// Calls the tool named `name`; a name the role does not list is refused.
    pub async fn dispatch(&self, context: &mut C, name: &str, arguments: Value) -> CallResult {
        match self.handlers.iter().find(|h| h.name() == name) {
            Some(handler) => handler.call(context, arguments).await,
            None => Ok(ToolReply::error(
                ToolErrorKind::Refused,
                format!("`{name}` is not available to this role"),
            )),
        }
    }
}
