//! ECS's task lifecycle as one state machine: the statuses a task and its containers go
//! through, the status a task is asked to reach, and the one function that decides what an
//! event does to a task. ECS only ever moves a task forward, so a late or repeated report
//! cannot undo a newer one; every caller (the agent channel, StopTask, the service scheduler,
//! instance loss) goes through [`TaskState::next`] so that rule lives in one place.

use std::fmt;

/// A task's `lastStatus`, in lifecycle order (the derived `Ord` is that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// awsvpc network setup, before the agent starts pulling.
    Provisioning,
    /// Waiting on the agent or for resources (image pulls, dependencies).
    Pending,
    /// Registering with service discovery and load balancers.
    Activating,
    Running,
    /// Deregistering from load balancers.
    Deactivating,
    /// The agent stops the containers (SIGTERM, then SIGKILL after `stopTimeout`).
    Stopping,
    /// Network teardown.
    Deprovisioning,
    Stopped,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 8] = [
        TaskStatus::Provisioning,
        TaskStatus::Pending,
        TaskStatus::Activating,
        TaskStatus::Running,
        TaskStatus::Deactivating,
        TaskStatus::Stopping,
        TaskStatus::Deprovisioning,
        TaskStatus::Stopped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Activating => "ACTIVATING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Deprovisioning => "DEPROVISIONING",
            TaskStatus::Stopped => "STOPPED",
        }
    }

    pub fn parse(status: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == status)
    }

    /// Counted in ECS's `pendingTasksCount`: placed, not running yet.
    pub fn is_pending(self) -> bool {
        self < TaskStatus::Running
    }

    /// On its way down: from DEACTIVATING on, the task has begun stopping (`stoppingAt`).
    pub fn is_stopping(self) -> bool {
        self >= TaskStatus::Deactivating
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's `desiredStatus`. The API's enum also has PENDING, but ECS never sets it (a
/// ListTasks filter on it finds nothing), so it is not a state a task can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DesiredStatus {
    Running,
    Stopped,
}

impl DesiredStatus {
    pub const ALL: [DesiredStatus; 2] = [DesiredStatus::Running, DesiredStatus::Stopped];

    pub const fn as_str(self) -> &'static str {
        match self {
            DesiredStatus::Running => "RUNNING",
            DesiredStatus::Stopped => "STOPPED",
        }
    }

    pub fn parse(status: &str) -> Option<DesiredStatus> {
        DesiredStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
    }
}

impl fmt::Display for DesiredStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container's `lastStatus` as the API shows it (the agent's finer internal states below
/// RUNNING all read PENDING), in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContainerStatus {
    Pending,
    Running,
    Stopped,
}

impl ContainerStatus {
    pub const ALL: [ContainerStatus; 3] = [
        ContainerStatus::Pending,
        ContainerStatus::Running,
        ContainerStatus::Stopped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Pending => "PENDING",
            ContainerStatus::Running => "RUNNING",
            ContainerStatus::Stopped => "STOPPED",
        }
    }

    pub fn parse(status: &str) -> Option<ContainerStatus> {
        ContainerStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
    }

    /// The status after the agent reports `reported`: containers, like tasks, only move
    /// forward (a repeated report is accepted and changes nothing).
    pub fn next(self, reported: ContainerStatus) -> Option<ContainerStatus> {
        (reported >= self).then_some(reported)
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a task is in its lifecycle: what it last reached and what it is asked to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskState {
    pub last: TaskStatus,
    pub desired: DesiredStatus,
}

/// Something that happens to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskEvent {
    /// Its agent observed it reach a status.
    Reported(TaskStatus),
    /// Someone asked it to stop: StopTask, the service scheduler, or its agent (an essential
    /// container exited).
    StopRequested,
    /// Its service deregistered it from its target groups to stop it: it stays DEACTIVATING,
    /// still wanted running (its container serves the requests in flight), until draining
    /// ends and the service asks it to stop.
    Deactivated,
    /// Its container instance is gone (deregistered, or its agent lost), so no agent will
    /// report it again: the control plane records it STOPPED.
    InstanceLost,
}

impl TaskState {
    /// A task as RunTask and StartTask create it.
    pub const LAUNCHED: TaskState = TaskState {
        last: TaskStatus::Provisioning,
        desired: DesiredStatus::Running,
    };

    /// The state after `event`, or `None` when the event changes nothing — a report of a status
    /// the task already reached or passed, a stop request for a task already asked to stop, the
    /// loss of an instance whose task already stopped.
    pub fn next(self, event: TaskEvent) -> Option<TaskState> {
        match event {
            TaskEvent::Reported(status) if status > self.last => Some(TaskState {
                last: status,
                // A task that stopped on its own is not wanted running any more either.
                desired: if status == TaskStatus::Stopped {
                    DesiredStatus::Stopped
                } else {
                    self.desired
                },
            }),
            TaskEvent::StopRequested if self.desired == DesiredStatus::Running => Some(TaskState {
                desired: DesiredStatus::Stopped,
                ..self
            }),
            TaskEvent::Deactivated
                if self.last == TaskStatus::Running && self.desired == DesiredStatus::Running =>
            {
                Some(TaskState {
                    last: TaskStatus::Deactivating,
                    ..self
                })
            }
            TaskEvent::InstanceLost if self.last != TaskStatus::Stopped => Some(TaskState {
                last: TaskStatus::Stopped,
                desired: DesiredStatus::Stopped,
            }),
            TaskEvent::Reported(_)
            | TaskEvent::StopRequested
            | TaskEvent::Deactivated
            | TaskEvent::InstanceLost => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DesiredStatus::{Running as WantRunning, Stopped as WantStopped};
    use TaskStatus::*;

    fn state(last: TaskStatus, desired: DesiredStatus) -> TaskState {
        TaskState { last, desired }
    }

    /// A service's task behind a load balancer drains while DEACTIVATING, still wanted
    /// running; then it is asked to stop; only a RUNNING task deactivates, once.
    #[test]
    fn deactivation_keeps_the_task_wanted_until_the_stop_request() {
        let deactivating = state(Running, WantRunning)
            .next(TaskEvent::Deactivated)
            .unwrap();
        assert_eq!(deactivating, state(Deactivating, WantRunning));
        assert_eq!(deactivating.next(TaskEvent::Deactivated), None);
        assert_eq!(
            deactivating.next(TaskEvent::Reported(Running)),
            None,
            "a late RUNNING report does not undo it"
        );
        assert_eq!(
            deactivating.next(TaskEvent::StopRequested),
            Some(state(Deactivating, WantStopped))
        );
        assert_eq!(
            state(Pending, WantRunning).next(TaskEvent::Deactivated),
            None
        );
        assert_eq!(
            state(Running, WantStopped).next(TaskEvent::Deactivated),
            None
        );
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        for status in DesiredStatus::ALL {
            assert_eq!(DesiredStatus::parse(status.as_str()), Some(status));
        }
        for status in ContainerStatus::ALL {
            assert_eq!(ContainerStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TaskStatus::parse("running"), None);
        assert_eq!(TaskStatus::parse("DELETED"), None);
        // ECS's API allows desiredStatus PENDING but never sets it.
        assert_eq!(DesiredStatus::parse("PENDING"), None);
        assert_eq!(ContainerStatus::parse("STOPPING"), None);
    }

    #[test]
    fn the_order_is_ecs_lifecycle() {
        let names: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "PROVISIONING",
                "PENDING",
                "ACTIVATING",
                "RUNNING",
                "DEACTIVATING",
                "STOPPING",
                "DEPROVISIONING",
                "STOPPED"
            ]
        );
        assert!(TaskStatus::ALL.windows(2).all(|w| w[0] < w[1]));
        let pending: Vec<TaskStatus> = TaskStatus::ALL
            .into_iter()
            .filter(|s| s.is_pending())
            .collect();
        assert_eq!(pending, [Provisioning, Pending, Activating]);
        let stopping: Vec<TaskStatus> = TaskStatus::ALL
            .into_iter()
            .filter(|s| s.is_stopping())
            .collect();
        assert_eq!(stopping, [Deactivating, Stopping, Deprovisioning, Stopped]);
    }

    /// Every state × every event, against a table written out by hand (not derived from the
    /// order the implementation uses).
    #[test]
    fn every_state_and_event() {
        // For each current status: the reported statuses that move the task (all later ones).
        let forward: [(TaskStatus, &[TaskStatus]); 8] = [
            (
                Provisioning,
                &[
                    Pending,
                    Activating,
                    Running,
                    Deactivating,
                    Stopping,
                    Deprovisioning,
                    Stopped,
                ],
            ),
            (
                Pending,
                &[
                    Activating,
                    Running,
                    Deactivating,
                    Stopping,
                    Deprovisioning,
                    Stopped,
                ],
            ),
            (
                Activating,
                &[Running, Deactivating, Stopping, Deprovisioning, Stopped],
            ),
            (Running, &[Deactivating, Stopping, Deprovisioning, Stopped]),
            (Deactivating, &[Stopping, Deprovisioning, Stopped]),
            (Stopping, &[Deprovisioning, Stopped]),
            (Deprovisioning, &[Stopped]),
            (Stopped, &[]),
        ];
        let mut checked = 0;
        for (last, moves) in forward {
            for desired in DesiredStatus::ALL {
                let current = state(last, desired);
                for reported in TaskStatus::ALL {
                    let expected = moves.contains(&reported).then(|| {
                        let desired = if reported == Stopped {
                            WantStopped
                        } else {
                            desired
                        };
                        state(reported, desired)
                    });
                    assert_eq!(
                        current.next(TaskEvent::Reported(reported)),
                        expected,
                        "{current:?} on a report of {reported}"
                    );
                    checked += 1;
                }
                let stop = match desired {
                    WantRunning => Some(state(last, WantStopped)),
                    WantStopped => None,
                };
                assert_eq!(
                    current.next(TaskEvent::StopRequested),
                    stop,
                    "{current:?} on a stop request"
                );
                let lost = match last {
                    Stopped => None,
                    _ => Some(state(Stopped, WantStopped)),
                };
                assert_eq!(
                    current.next(TaskEvent::InstanceLost),
                    lost,
                    "{current:?} on a lost instance"
                );
                checked += 2;
            }
        }
        assert_eq!(checked, 8 * 2 * (8 + 2));
    }

    #[test]
    fn a_late_report_cannot_undo_a_newer_one() {
        let running = TaskState::LAUNCHED
            .next(TaskEvent::Reported(Running))
            .unwrap();
        assert_eq!(running, state(Running, WantRunning));
        assert_eq!(running.next(TaskEvent::Reported(Pending)), None);
        assert_eq!(running.next(TaskEvent::Reported(Running)), None);
        let stopping = running.next(TaskEvent::StopRequested).unwrap();
        assert_eq!(stopping, state(Running, WantStopped));
        let stopped = stopping.next(TaskEvent::Reported(Stopped)).unwrap();
        assert_eq!(stopped.next(TaskEvent::Reported(Running)), None);
        assert_eq!(stopped.next(TaskEvent::StopRequested), None);
    }

    #[test]
    fn containers_only_move_forward() {
        use ContainerStatus as C;
        let table = [
            (C::Pending, C::Pending, Some(C::Pending)),
            (C::Pending, C::Running, Some(C::Running)),
            (C::Pending, C::Stopped, Some(C::Stopped)),
            (C::Running, C::Pending, None),
            (C::Running, C::Running, Some(C::Running)),
            (C::Running, C::Stopped, Some(C::Stopped)),
            (C::Stopped, C::Pending, None),
            (C::Stopped, C::Running, None),
            (C::Stopped, C::Stopped, Some(C::Stopped)),
        ];
        for (current, reported, expected) in table {
            assert_eq!(current.next(reported), expected, "{current} on {reported}");
        }
    }
}
