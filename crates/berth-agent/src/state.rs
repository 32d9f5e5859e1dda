//! The agent's small durable state: which container instance it is, and the state changes the
//! control plane has not acknowledged yet. Kept in one JSON file, replaced atomically.
//!
//! Reports are written before they are sent — one write for every batch, not one per report, so
//! a burst of task starts is not serialised on fsyncs — which is what makes sequence numbers
//! safe: none the control plane has seen is ever reused. A report made but not yet sent when the
//! agent dies is not lost either: the restarted agent re-adopts the task's containers and
//! reports what it finds.
//!
//! When the containers do not outlive the agent ([`Outbox::Volatile`]: the simulated runtime's),
//! a restarted agent has nothing left to report on, so the outbox stays in memory; the file then
//! only reserves sequence numbers, a block at a time, so none is reused after a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use berth_protocol::{SequencedChange, TaskStateChange};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentState {
    /// Set once the control plane has registered this agent.
    pub container_instance_arn: Option<String>,
    /// A stable id for this host, reported as `ec2InstanceId`.
    pub host_id: String,
    /// The sequence number the next state change gets.
    pub next_sequence: u64,
    /// State changes not yet acknowledged, oldest first.
    pub outbox: Vec<SequencedChange>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading agent state {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("agent state {path} is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing agent state {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Whether unacknowledged reports are kept in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// Written before every send: the containers reported on survive the agent.
    Durable,
    /// Kept in memory: the containers end with the agent, and so does what there is to say
    /// about them.
    Volatile,
}

/// How many sequence numbers a volatile-outbox journal reserves with one write.
const SEQUENCE_BLOCK: u64 = 4096;

/// The state file, shared by the task actors (which report) and the connection (which sends
/// and forgets what was acknowledged).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    /// Woken whenever there is something new to send.
    pending: Arc<Notify>,
}

struct Inner {
    path: PathBuf,
    outbox: Outbox,
    state: AgentState,
    /// Whether `state` has changes the file does not have yet.
    dirty: bool,
    /// The `next_sequence` the file holds: with a volatile outbox, every number sent is below it.
    reserved_sequence: u64,
}

impl Inner {
    /// Writes the state durably: whole, or with a volatile outbox its identity and a sequence
    /// reservation covering every number up to `sent_up_to`.
    fn persist(&mut self, sent_up_to: u64) -> Result<(), StateError> {
        match self.outbox {
            Outbox::Durable => write_atomically(&self.path, &self.state)?,
            Outbox::Volatile => {
                let reserved = self
                    .reserved_sequence
                    .max(sent_up_to + 1 + SEQUENCE_BLOCK)
                    .max(self.state.next_sequence);
                let file = AgentState {
                    next_sequence: reserved,
                    outbox: Vec::new(),
                    ..self.state.clone()
                };
                write_atomically(&self.path, &file)?;
                self.reserved_sequence = reserved;
            }
        }
        self.dirty = false;
        Ok(())
    }
}

impl Journal {
    /// Opens the state in `dir`, creating it (with a new host id) the first time.
    pub fn open(
        dir: &Path,
        outbox: Outbox,
        new_host_id: impl FnOnce() -> String,
    ) -> Result<Journal, StateError> {
        let path = dir.join("agent-state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                path: path.clone(),
                source,
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => AgentState {
                host_id: new_host_id(),
                next_sequence: 1,
                ..AgentState::default()
            },
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let journal = Journal {
            inner: Arc::new(Mutex::new(Inner {
                path,
                outbox,
                reserved_sequence: state.next_sequence,
                state,
                dirty: false,
            })),
            pending: Arc::new(Notify::new()),
        };
        journal.with(|_| ())?;
        Ok(journal)
    }

    /// Runs `change` on the state and writes it durably before returning.
    fn with<T>(&self, change: impl FnOnce(&mut AgentState) -> T) -> Result<T, StateError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let out = change(&mut inner.state);
        inner.persist(0)?;
        Ok(out)
    }

    pub fn snapshot(&self) -> AgentState {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
            .clone()
    }

    /// Records a state change to report (it becomes durable before it is sent).
    pub fn report(&self, change: TaskStateChange) -> u64 {
        let sequence = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let sequence = inner.state.next_sequence;
            inner.state.next_sequence += 1;
            inner
                .state
                .outbox
                .push(SequencedChange { sequence, change });
            inner.dirty = true;
            sequence
        };
        self.pending.notify_one();
        sequence
    }

    /// Forgets every change up to `sequence`: the control plane has it.
    pub fn acknowledge(&self, sequence: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.state.outbox.retain(|c| c.sequence > sequence);
        inner.dirty = true;
    }

    pub fn set_instance(&self, arn: &str) -> Result<(), StateError> {
        self.with(|state| state.container_instance_arn = Some(arn.to_string()))
    }

    /// Changes after `sequence`, to send: written to the file first (with a volatile outbox,
    /// their sequence numbers reserved first).
    pub fn unsent_after(&self, sequence: u64) -> Result<Vec<SequencedChange>, StateError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let unsent: Vec<SequencedChange> = inner
            .state
            .outbox
            .iter()
            .filter(|c| c.sequence > sequence)
            .cloned()
            .collect();
        if let Some(last) = unsent.last() {
            let written = match inner.outbox {
                Outbox::Durable => !inner.dirty,
                Outbox::Volatile => last.sequence < inner.reserved_sequence,
            };
            if !written {
                inner.persist(last.sequence)?;
            }
        }
        Ok(unsent)
    }

    /// Resolves when a change was reported since the last call.
    pub async fn changed(&self) {
        self.pending.notified().await;
    }
}

fn write_atomically(path: &Path, state: &AgentState) -> Result<(), StateError> {
    let failed = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let temporary = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(state).expect("agent state always encodes");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temporary).map_err(failed)?;
        file.write_all(&bytes).map_err(failed)?;
        file.sync_all().map_err(failed)?;
    }
    std::fs::rename(&temporary, path).map_err(failed)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(arn: &str) -> TaskStateChange {
        TaskStateChange {
            task_arn: arn.into(),
            ..Default::default()
        }
    }

    /// What the journals below were opened and registered with.
    fn assert_identity_kept(state: &AgentState) {
        assert_eq!(state.host_id, "i-0123");
        assert_eq!(
            state.container_instance_arn.as_deref(),
            Some("arn:instance")
        );
    }

    #[test]
    fn identity_and_unacknowledged_changes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), Outbox::Durable, || "i-0123".into()).unwrap();
        journal.set_instance("arn:instance").unwrap();
        let first = journal.report(change("a"));
        let second = journal.report(change("b"));
        journal.acknowledge(first);
        // What is sent is written first.
        assert_eq!(journal.unsent_after(0).unwrap().len(), 1);
        drop(journal);

        let reopened = Journal::open(dir.path(), Outbox::Durable, || "i-other".into()).unwrap();
        let state = reopened.snapshot();
        assert_identity_kept(&state);
        assert_eq!(
            state.outbox.iter().map(|c| c.sequence).collect::<Vec<_>>(),
            [second]
        );
        assert_eq!(reopened.report(change("c")), second + 1);
        assert_eq!(reopened.unsent_after(second).unwrap().len(), 1);
    }

    /// A volatile outbox forgets its reports with the process but never reuses a sequence
    /// number that was sent, and writes the file once per block of numbers, not per send.
    #[test]
    fn a_volatile_outbox_reserves_sequence_numbers_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent-state.json");
        let journal = Journal::open(dir.path(), Outbox::Volatile, || "i-0123".into()).unwrap();
        journal.set_instance("arn:instance").unwrap();
        let first = journal.report(change("a"));
        assert_eq!(journal.unsent_after(0).unwrap().len(), 1);
        let written = std::fs::read(&path).unwrap();
        let mut sent = first;
        for index in 0..100 {
            sent = journal.report(change(&format!("t{index}")));
            assert_eq!(journal.unsent_after(sent - 1).unwrap().len(), 1);
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            written,
            "sends within the reserved block write nothing"
        );
        // Sending past the block reserves the next one before the send.
        while sent < SEQUENCE_BLOCK + 10 {
            sent = journal.report(change("past"));
            journal.unsent_after(sent - 1).unwrap();
        }
        assert_ne!(std::fs::read(&path).unwrap(), written);
        drop(journal);

        let reopened = Journal::open(dir.path(), Outbox::Volatile, || "i-other".into()).unwrap();
        let state = reopened.snapshot();
        assert_identity_kept(&state);
        assert!(state.outbox.is_empty(), "reports end with the process");
        assert!(
            reopened.report(change("b")) > sent,
            "no sent number is reused"
        );
    }
}
