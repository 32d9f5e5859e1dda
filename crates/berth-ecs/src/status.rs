//! The statuses of ECS's other records — clusters, services, container instances, task
//! definitions and deployments — as the wire writes them. Tasks have their own lifecycle
//! ([`crate::lifecycle`]); these have no transition function of their own, so each enum only
//! names the values Berth reads and writes (`as_str` is the wire value).

/// A cluster's `status`: a deleted cluster stays describable as INACTIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterStatus {
    Active,
    Inactive,
}

impl ClusterStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Active => "ACTIVE",
            ClusterStatus::Inactive => "INACTIVE",
        }
    }
}

/// A service's `status`: DeleteService drains an ACTIVE service, and the scheduler makes it
/// INACTIVE once its tasks are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceStatus {
    Active,
    Draining,
    Inactive,
}

impl ServiceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Active => "ACTIVE",
            ServiceStatus::Draining => "DRAINING",
            ServiceStatus::Inactive => "INACTIVE",
        }
    }
}

/// A container instance's `status`: UpdateContainerInstancesState moves it between ACTIVE and
/// DRAINING, deregistration makes it INACTIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    Active,
    Draining,
    Inactive,
}

impl InstanceStatus {
    /// The statuses UpdateContainerInstancesState may set.
    pub const SETTABLE: [InstanceStatus; 2] = [InstanceStatus::Active, InstanceStatus::Draining];

    pub const fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Draining => "DRAINING",
            InstanceStatus::Inactive => "INACTIVE",
        }
    }
}

/// A task definition revision's `status`: deregistering makes it INACTIVE, deleting an
/// INACTIVE one DELETE_IN_PROGRESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskDefinitionStatus {
    Active,
    Inactive,
    DeleteInProgress,
}

impl TaskDefinitionStatus {
    pub const ALL: [TaskDefinitionStatus; 3] = [
        TaskDefinitionStatus::Active,
        TaskDefinitionStatus::Inactive,
        TaskDefinitionStatus::DeleteInProgress,
    ];

    pub fn parse(status: &str) -> Option<TaskDefinitionStatus> {
        TaskDefinitionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TaskDefinitionStatus::Active => "ACTIVE",
            TaskDefinitionStatus::Inactive => "INACTIVE",
            TaskDefinitionStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
        }
    }
}

/// The `status` of an entry in a service's `deployments[]`: the newest is PRIMARY, the ones it
/// replaces ACTIVE until their tasks are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeploymentStatus {
    Primary,
    Active,
}

impl DeploymentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Primary => "PRIMARY",
            DeploymentStatus::Active => "ACTIVE",
        }
    }
}

/// The `rolloutState` of an entry in a service's `deployments[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

impl RolloutState {
    pub const fn as_str(self) -> &'static str {
        match self {
            RolloutState::InProgress => "IN_PROGRESS",
            RolloutState::Completed => "COMPLETED",
            RolloutState::Failed => "FAILED",
        }
    }
}

/// A service deployment's `status` (the ServiceDeployment record, not a `deployments[]` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceDeploymentStatus {
    Pending,
    InProgress,
    Successful,
    Stopped,
    StopRequested,
    RollbackRequested,
    RollbackInProgress,
    RollbackSuccessful,
    RollbackFailed,
}

impl ServiceDeploymentStatus {
    pub const ALL: [ServiceDeploymentStatus; 9] = [
        ServiceDeploymentStatus::Pending,
        ServiceDeploymentStatus::InProgress,
        ServiceDeploymentStatus::Successful,
        ServiceDeploymentStatus::Stopped,
        ServiceDeploymentStatus::StopRequested,
        ServiceDeploymentStatus::RollbackRequested,
        ServiceDeploymentStatus::RollbackInProgress,
        ServiceDeploymentStatus::RollbackSuccessful,
        ServiceDeploymentStatus::RollbackFailed,
    ];

    pub fn parse(status: &str) -> Option<ServiceDeploymentStatus> {
        ServiceDeploymentStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceDeploymentStatus::Pending => "PENDING",
            ServiceDeploymentStatus::InProgress => "IN_PROGRESS",
            ServiceDeploymentStatus::Successful => "SUCCESSFUL",
            ServiceDeploymentStatus::Stopped => "STOPPED",
            ServiceDeploymentStatus::StopRequested => "STOP_REQUESTED",
            ServiceDeploymentStatus::RollbackRequested => "ROLLBACK_REQUESTED",
            ServiceDeploymentStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            ServiceDeploymentStatus::RollbackSuccessful => "ROLLBACK_SUCCESSFUL",
            ServiceDeploymentStatus::RollbackFailed => "ROLLBACK_FAILED",
        }
    }

    /// Not started or rolling out its own revision: a newer deployment supersedes it, and
    /// StopServiceDeployment may roll it back.
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress
        )
    }

    /// Going back to the revision it started from.
    pub fn is_rolling_back(self) -> bool {
        matches!(
            self,
            ServiceDeploymentStatus::RollbackRequested
                | ServiceDeploymentStatus::RollbackInProgress
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire values are ECS's: a typo here would change what every client sees.
    #[test]
    fn wire_values_are_ecs_own() {
        assert_eq!(ClusterStatus::Active.as_str(), "ACTIVE");
        assert_eq!(ClusterStatus::Inactive.as_str(), "INACTIVE");
        assert_eq!(ServiceStatus::Draining.as_str(), "DRAINING");
        assert_eq!(ServiceStatus::Inactive.as_str(), "INACTIVE");
        assert_eq!(
            InstanceStatus::SETTABLE.map(InstanceStatus::as_str),
            ["ACTIVE", "DRAINING"]
        );
        assert_eq!(InstanceStatus::Inactive.as_str(), "INACTIVE");
        assert_eq!(
            TaskDefinitionStatus::DeleteInProgress.as_str(),
            "DELETE_IN_PROGRESS"
        );
        for status in TaskDefinitionStatus::ALL {
            assert_eq!(TaskDefinitionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TaskDefinitionStatus::parse("ALL"), None);
        assert_eq!(DeploymentStatus::Primary.as_str(), "PRIMARY");
        assert_eq!(RolloutState::Completed.as_str(), "COMPLETED");
        for status in ServiceDeploymentStatus::ALL {
            assert_eq!(
                ServiceDeploymentStatus::parse(status.as_str()),
                Some(status)
            );
        }
        assert_eq!(
            ServiceDeploymentStatus::RollbackInProgress.as_str(),
            "ROLLBACK_IN_PROGRESS"
        );
    }
}

/// An attachment's `status` (a task's elastic network interface and the like), in the order an
/// attachment moves through them; FAILED ends it from anywhere. Reports only move it forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttachmentStatus {
    Precreated,
    Created,
    Attaching,
    Attached,
    Detaching,
    Detached,
    Deleted,
    Failed,
}

impl AttachmentStatus {
    const ALL: [AttachmentStatus; 8] = [
        AttachmentStatus::Precreated,
        AttachmentStatus::Created,
        AttachmentStatus::Attaching,
        AttachmentStatus::Attached,
        AttachmentStatus::Detaching,
        AttachmentStatus::Detached,
        AttachmentStatus::Deleted,
        AttachmentStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AttachmentStatus::Precreated => "PRECREATED",
            AttachmentStatus::Created => "CREATED",
            AttachmentStatus::Attaching => "ATTACHING",
            AttachmentStatus::Attached => "ATTACHED",
            AttachmentStatus::Detaching => "DETACHING",
            AttachmentStatus::Detached => "DETACHED",
            AttachmentStatus::Deleted => "DELETED",
            AttachmentStatus::Failed => "FAILED",
        }
    }

    pub fn parse(value: &str) -> Option<AttachmentStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The status after a report of `reported`: later ones only, and nothing after
    /// DELETED or FAILED.
    pub fn next(self, reported: AttachmentStatus) -> Option<AttachmentStatus> {
        let ended = matches!(self, AttachmentStatus::Deleted | AttachmentStatus::Failed);
        (!ended && reported > self).then_some(reported)
    }
}

#[cfg(test)]
mod attachment_tests {
    use super::AttachmentStatus::*;
    use super::*;

    #[test]
    fn attachments_only_move_forward_and_end_at_deleted_or_failed() {
        assert_eq!(Attaching.next(Attached), Some(Attached));
        assert_eq!(Attached.next(Attaching), None, "a late report is ignored");
        assert_eq!(Attached.next(Attached), None);
        assert_eq!(Precreated.next(Failed), Some(Failed));
        assert_eq!(Failed.next(Deleted), None);
        assert_eq!(Deleted.next(Failed), None);
        for status in AttachmentStatus::ALL {
            assert_eq!(AttachmentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(AttachmentStatus::parse("attached"), None);
    }
}
