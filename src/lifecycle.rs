//! Where a node is in its life: serving, draining (no new sockets; the open ones closed
//! gradually) or stopping (no new work; every socket closed). [`Lifecycle`] owns the phase; the
//! websocket listener and REST read it.

use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::watch;

use switchyard_actors::supervisor::SupervisorMsg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Serving,
    /// New websockets are answered 503; the open ones are being closed a few at a time.
    Draining,
    /// SIGTERM: the listener is closed, REST answers 503 for new work, every socket gets 1001.
    Stopping,
}

impl Phase {
    /// Why a new socket or a REST request for work is turned away, when it is.
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Phase::Serving => None,
            Phase::Draining => Some("the node is draining; connect to another"),
            Phase::Stopping => Some("the node is shutting down"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("the node is shutting down")]
    Stopping,
    #[error("the supervisor did not answer")]
    Unanswered,
}

pub struct Lifecycle {
    phase: watch::Sender<Phase>,
    supervisor: ActorRef<SupervisorMsg>,
}

impl Lifecycle {
    pub(crate) fn new(supervisor: ActorRef<SupervisorMsg>) -> Self {
        Lifecycle {
            phase: watch::Sender::new(Phase::Serving),
            supervisor,
        }
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Stops taking sockets and closes the open ones over `over`; how many that is. A drain
    /// under way starts over with the sockets still open. A stopping node does not drain.
    pub async fn drain(&self, over: Duration) -> Result<usize, DrainError> {
        let began = self.phase.send_if_modified(|phase| {
            if *phase == Phase::Stopping {
                return false;
            }
            *phase = Phase::Draining;
            true
        });
        if !began {
            return Err(DrainError::Stopping);
        }
        ractor::call!(self.supervisor, |reply| SupervisorMsg::Drain {
            over,
            reply
        })
        .map_err(|_| DrainError::Unanswered)
    }

    /// Begins the shutdown: from now on nothing new is taken.
    pub(crate) fn stop(&self) {
        self.phase.send_replace(Phase::Stopping);
    }
}
