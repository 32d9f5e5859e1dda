//! CloudWatch metrics' rules, without I/O, clock or randomness (time is an argument):
//! metric names, namespaces and dimensions ([`check_metric`]), datapoints and the statistics
//! of a period ([`stats`]), the period and datapoint-count rules of GetMetricStatistics and
//! GetMetricData ([`stats::check_statistics_window`]), the retention tiers and the periods an
//! old range is answered with ([`retention`]), GetMetricData's math expressions ([`expr`]),
//! alarm evaluation ([`alarm`]) and [`CloudWatchError`] with CloudWatch's codes.

pub mod alarm;
pub mod expr;
pub mod retention;
pub mod stats;
pub mod time;

use berth_aws::ServiceError;

/// At most this many dimensions per metric.
pub const MAX_DIMENSIONS: usize = 30;
/// Metric names, namespaces and dimension names are 1–255 characters; dimension values 1–1024.
pub const MAX_NAME_LEN: usize = 255;
pub const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// A resource carries at most 50 tags.
pub const MAX_TAGS: usize = 50;

/// CloudWatch's errors, each with the code its model gives it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudWatchError {
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    MissingParameter(String),
    /// DescribeAlarmHistory, dashboards and the like (`ResourceNotFound`, 404).
    #[error("{0}")]
    ResourceNotFound(String),
    /// The tagging actions answer this one instead (`ResourceNotFoundException`).
    #[error("{0}")]
    ResourceNotFoundException(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidNextToken(String),
    /// SetAlarmState's StateReasonData that is not JSON.
    #[error("{0}")]
    InvalidFormat(String),
    #[error("{0}")]
    InternalServiceError(String),
}

impl ServiceError for CloudWatchError {
    fn code(&self) -> &str {
        match self {
            CloudWatchError::InvalidParameterValue(_) => "InvalidParameterValue",
            CloudWatchError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            CloudWatchError::MissingParameter(_) => "MissingParameter",
            CloudWatchError::ResourceNotFound(_) => "ResourceNotFound",
            CloudWatchError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            CloudWatchError::LimitExceeded(_) => "LimitExceeded",
            CloudWatchError::InvalidNextToken(_) => "InvalidNextToken",
            CloudWatchError::InvalidFormat(_) => "InvalidFormat",
            CloudWatchError::InternalServiceError(_) => "InternalServiceError",
        }
    }

    fn status(&self) -> u16 {
        match self {
            CloudWatchError::ResourceNotFound(_)
            | CloudWatchError::ResourceNotFoundException(_) => 404,
            CloudWatchError::InternalServiceError(_) => 500,
            _ => 400,
        }
    }
}

/// CloudWatch's message for a parameter whose value it refuses.
pub fn invalid_value(parameter: &str, value: &str) -> CloudWatchError {
    CloudWatchError::InvalidParameterValue(format!(
        "The value {value} for parameter {parameter} is invalid."
    ))
}

/// One dimension of a metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

/// A metric's identity: namespace, name and dimensions (kept sorted by name, so the same
/// dimensions given in another order are the same metric, as on CloudWatch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<Dimension>,
}

impl MetricId {
    pub fn new(namespace: &str, name: &str, mut dimensions: Vec<Dimension>) -> MetricId {
        dimensions.sort();
        MetricId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
        }
    }
}

/// Who names a namespace: PutMetricData may not publish under `AWS/`, which only AWS
/// services (here: Berth itself) write; queries and alarms read any namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    Customer,
    Berth,
}

/// Checks a namespace (`at` names the parameter in messages).
pub fn check_namespace(
    at: &str,
    namespace: &str,
    publisher: Publisher,
) -> Result<(), CloudWatchError> {
    if namespace.is_empty()
        || namespace.chars().count() > MAX_NAME_LEN
        || namespace.starts_with(':')
    {
        return Err(invalid_value(at, namespace));
    }
    if publisher == Publisher::Customer && namespace.starts_with("AWS/") {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The value {namespace} for parameter {at} is invalid: namespaces starting with AWS/ are reserved for use by AWS services."
        )));
    }
    Ok(())
}

/// Checks a metric's name and dimensions (`at` is the parameter path of the metric, such as
/// `MetricData.member.1`, or empty for top-level parameters).
pub fn check_metric(at: &str, name: &str, dimensions: &[Dimension]) -> Result<(), CloudWatchError> {
    let path = |member: &str| {
        if at.is_empty() {
            member.to_owned()
        } else {
            format!("{at}.{member}")
        }
    };
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(invalid_value(&path("MetricName"), name));
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The collection {} must not have a size greater than {MAX_DIMENSIONS}.",
            path("Dimensions")
        )));
    }
    for (index, dimension) in dimensions.iter().enumerate() {
        let member = path(&format!("Dimensions.member.{}", index + 1));
        if dimension.name.is_empty() || dimension.name.chars().count() > MAX_NAME_LEN {
            return Err(invalid_value(&format!("{member}.Name"), &dimension.name));
        }
        if dimension.value.is_empty() || dimension.value.chars().count() > MAX_DIMENSION_VALUE_LEN {
            return Err(invalid_value(&format!("{member}.Value"), &dimension.value));
        }
        if dimensions[..index].iter().any(|d| d.name == dimension.name) {
            return Err(CloudWatchError::InvalidParameterValue(format!(
                "No Metric may specify the same dimension name twice. Duplicate name: {}",
                dimension.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(name: &str, value: &str) -> Dimension {
        Dimension {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn namespaces_under_aws_are_reserved_for_publishing_only() {
        assert!(check_namespace("Namespace", "AWS/ECS", Publisher::Berth).is_ok());
        let err = check_namespace("Namespace", "AWS/ECS", Publisher::Customer).unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert!(
            err.to_string()
                .starts_with("The value AWS/ECS for parameter Namespace is invalid")
        );
        assert!(check_namespace("Namespace", "MyApp", Publisher::Customer).is_ok());
        assert!(check_namespace("Namespace", ":x", Publisher::Customer).is_err());
        assert!(check_namespace("Namespace", &"n".repeat(256), Publisher::Customer).is_err());
    }

    #[test]
    fn metrics_take_thirty_distinct_dimensions() {
        let thirty: Vec<_> = (0..30).map(|i| dim(&format!("d{i}"), "v")).collect();
        assert!(check_metric("MetricData.member.1", "Latency", &thirty).is_ok());
        let mut more = thirty.clone();
        more.push(dim("d30", "v"));
        assert_eq!(
            check_metric("MetricData.member.1", "Latency", &more)
                .unwrap_err()
                .to_string(),
            "The collection MetricData.member.1.Dimensions must not have a size greater than 30."
        );
        assert_eq!(
            check_metric("", "Latency", &[dim("a", "1"), dim("a", "2")])
                .unwrap_err()
                .to_string(),
            "No Metric may specify the same dimension name twice. Duplicate name: a"
        );
        assert_eq!(
            check_metric("MetricData.member.2", "", &[])
                .unwrap_err()
                .to_string(),
            "The value  for parameter MetricData.member.2.MetricName is invalid."
        );
        assert!(check_metric("", "x", &[dim("a", &"v".repeat(1025))]).is_err());
    }

    #[test]
    fn dimensions_in_any_order_name_one_metric() {
        let a = MetricId::new("N", "M", vec![dim("b", "2"), dim("a", "1")]);
        let b = MetricId::new("N", "M", vec![dim("a", "1"), dim("b", "2")]);
        assert_eq!(a, b);
    }
}
