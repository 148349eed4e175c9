//! The `replay` provider. It is not a model: the mission lifecycle serves a role bound to it
//! whole from a recorded run (`mission::counterfactual`), agent run by agent run, while the
//! inputs match the record. Its sessions only say so, for a run the lifecycle could not serve.

use async_trait::async_trait;

use super::{
    ChatRequest, ChatResponse, ModelBackend, ModelError, ModelInfo, ModelSession, SessionContext,
};

pub struct ReplayBackend {
    info: ModelInfo,
}

impl ReplayBackend {
    pub fn new(info: ModelInfo) -> ReplayBackend {
        ReplayBackend { info }
    }
}

impl ModelBackend for ReplayBackend {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn start_session(&self, _context: SessionContext) -> Box<dyn ModelSession> {
        Box::new(ReplaySession {
            name: self.info.name.clone(),
        })
    }
}

struct ReplaySession {
    name: String,
}

#[async_trait]
impl ModelSession for ReplaySession {
    async fn complete(&mut self, _request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        Err(ModelError::Unavailable {
            message: format!(
                "`{}` replays a recorded run and answers no call of its own; this agent run has no recorded counterpart",
                self.name
            ),
        })
    }
}
