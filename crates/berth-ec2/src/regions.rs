//! The AWS commercial regions and their availability zones.
//!
//! Zone names are the letters each region actually offers. On AWS the name → zone-id mapping is
//! shuffled per account in the older regions; Berth pins one mapping so that every account sees
//! the same, stable answer.

use serde::{Deserialize, Serialize};

use crate::Ec2Error;
use crate::filter::{Filter, Matcher};

/// One region: its name, whether customers must opt in to it, and its zones as
/// (letter, zone id) in zone-name order.
struct RegionRow {
    name: &'static str,
    opt_in: bool,
    zones: &'static [(char, &'static str)],
}

const fn row(
    name: &'static str,
    opt_in: bool,
    zones: &'static [(char, &'static str)],
) -> RegionRow {
    RegionRow {
        name,
        opt_in,
        zones,
    }
}

const REGIONS: &[RegionRow] = &[
    row(
        "us-east-1",
        false,
        &[
            ('a', "use1-az1"),
            ('b', "use1-az2"),
            ('c', "use1-az4"),
            ('d', "use1-az6"),
            ('e', "use1-az3"),
            ('f', "use1-az5"),
        ],
    ),
    row(
        "us-east-2",
        false,
        &[('a', "use2-az1"), ('b', "use2-az2"), ('c', "use2-az3")],
    ),
    row("us-west-1", false, &[('a', "usw1-az1"), ('c', "usw1-az3")]),
    row(
        "us-west-2",
        false,
        &[
            ('a', "usw2-az1"),
            ('b', "usw2-az2"),
            ('c', "usw2-az3"),
            ('d', "usw2-az4"),
        ],
    ),
    row(
        "af-south-1",
        true,
        &[('a', "afs1-az1"), ('b', "afs1-az2"), ('c', "afs1-az3")],
    ),
    row(
        "ap-east-1",
        true,
        &[('a', "ape1-az1"), ('b', "ape1-az2"), ('c', "ape1-az3")],
    ),
    row(
        "ap-south-1",
        false,
        &[('a', "aps1-az1"), ('b', "aps1-az3"), ('c', "aps1-az2")],
    ),
    row(
        "ap-south-2",
        true,
        &[('a', "aps2-az1"), ('b', "aps2-az2"), ('c', "aps2-az3")],
    ),
    row(
        "ap-northeast-1",
        false,
        &[('a', "apne1-az4"), ('c', "apne1-az1"), ('d', "apne1-az2")],
    ),
    row(
        "ap-northeast-2",
        false,
        &[
            ('a', "apne2-az1"),
            ('b', "apne2-az2"),
            ('c', "apne2-az3"),
            ('d', "apne2-az4"),
        ],
    ),
    row(
        "ap-northeast-3",
        false,
        &[('a', "apne3-az3"), ('b', "apne3-az1"), ('c', "apne3-az2")],
    ),
    row(
        "ap-southeast-1",
        false,
        &[('a', "apse1-az1"), ('b', "apse1-az2"), ('c', "apse1-az3")],
    ),
    row(
        "ap-southeast-2",
        false,
        &[('a', "apse2-az1"), ('b', "apse2-az3"), ('c', "apse2-az2")],
    ),
    row(
        "ap-southeast-3",
        true,
        &[('a', "apse3-az1"), ('b', "apse3-az2"), ('c', "apse3-az3")],
    ),
    row(
        "ap-southeast-4",
        true,
        &[('a', "apse4-az1"), ('b', "apse4-az2"), ('c', "apse4-az3")],
    ),
    row(
        "ap-southeast-5",
        true,
        &[('a', "apse5-az1"), ('b', "apse5-az2"), ('c', "apse5-az3")],
    ),
    row(
        "ap-southeast-7",
        true,
        &[('a', "apse7-az1"), ('b', "apse7-az2"), ('c', "apse7-az3")],
    ),
    row(
        "ca-central-1",
        false,
        &[('a', "cac1-az1"), ('b', "cac1-az2"), ('d', "cac1-az4")],
    ),
    row(
        "ca-west-1",
        true,
        &[('a', "caw1-az1"), ('b', "caw1-az2"), ('c', "caw1-az3")],
    ),
    row(
        "eu-central-1",
        false,
        &[('a', "euc1-az2"), ('b', "euc1-az3"), ('c', "euc1-az1")],
    ),
    row(
        "eu-central-2",
        true,
        &[('a', "euc2-az1"), ('b', "euc2-az2"), ('c', "euc2-az3")],
    ),
    row(
        "eu-west-1",
        false,
        &[('a', "euw1-az1"), ('b', "euw1-az2"), ('c', "euw1-az3")],
    ),
    row(
        "eu-west-2",
        false,
        &[('a', "euw2-az2"), ('b', "euw2-az3"), ('c', "euw2-az1")],
    ),
    row(
        "eu-west-3",
        false,
        &[('a', "euw3-az1"), ('b', "euw3-az2"), ('c', "euw3-az3")],
    ),
    row(
        "eu-south-1",
        true,
        &[('a', "eus1-az1"), ('b', "eus1-az2"), ('c', "eus1-az3")],
    ),
    row(
        "eu-south-2",
        true,
        &[('a', "eus2-az1"), ('b', "eus2-az2"), ('c', "eus2-az3")],
    ),
    row(
        "eu-north-1",
        false,
        &[('a', "eun1-az1"), ('b', "eun1-az2"), ('c', "eun1-az3")],
    ),
    row(
        "il-central-1",
        true,
        &[('a', "ilc1-az1"), ('b', "ilc1-az2"), ('c', "ilc1-az3")],
    ),
    row(
        "me-south-1",
        true,
        &[('a', "mes1-az1"), ('b', "mes1-az2"), ('c', "mes1-az3")],
    ),
    row(
        "me-central-1",
        true,
        &[('a', "mec1-az1"), ('b', "mec1-az2"), ('c', "mec1-az3")],
    ),
    row(
        "mx-central-1",
        true,
        &[('a', "mxc1-az1"), ('b', "mxc1-az2"), ('c', "mxc1-az3")],
    ),
    row(
        "sa-east-1",
        false,
        &[('a', "sae1-az1"), ('b', "sae1-az2"), ('c', "sae1-az3")],
    ),
];

/// A DescribeRegions entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionInfo {
    pub region_name: String,
    pub endpoint: String,
    /// `opt-in-not-required` or, for opt-in regions (all enabled in Berth), `opted-in`.
    pub opt_in_status: String,
}

/// A DescribeAvailabilityZones entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityZone {
    pub zone_name: String,
    pub zone_id: String,
    pub state: String,
    pub region_name: String,
    pub zone_type: String,
    pub group_name: String,
    pub group_long_name: String,
    pub network_border_group: String,
    pub opt_in_status: String,
}

fn find(region: &str) -> Option<&'static RegionRow> {
    REGIONS.iter().find(|r| r.name == region)
}

pub fn is_known_region(region: &str) -> bool {
    find(region).is_some()
}

/// Every region, in table order.
pub fn regions() -> Vec<RegionInfo> {
    REGIONS.iter().map(region_info).collect()
}

fn region_info(row: &RegionRow) -> RegionInfo {
    RegionInfo {
        region_name: row.name.to_owned(),
        endpoint: format!("ec2.{}.amazonaws.com", row.name),
        opt_in_status: if row.opt_in {
            "opted-in"
        } else {
            "opt-in-not-required"
        }
        .to_owned(),
    }
}

/// The availability zones of `region` in zone-name order; empty for an unknown region.
pub fn availability_zones(region: &str) -> Vec<AvailabilityZone> {
    let Some(row) = find(region) else {
        return Vec::new();
    };
    row.zones
        .iter()
        .map(|(letter, id)| AvailabilityZone {
            zone_name: format!("{}{letter}", row.name),
            zone_id: (*id).to_owned(),
            state: "available".to_owned(),
            region_name: row.name.to_owned(),
            zone_type: "availability-zone".to_owned(),
            group_name: format!("{}-zg-1", row.name),
            group_long_name: format!("{} zone group", row.name),
            network_border_group: row.name.to_owned(),
            opt_in_status: "opt-in-not-required".to_owned(),
        })
        .collect()
}

/// DescribeRegions: `names` restrict the answer (an unknown one is an error), filters
/// `endpoint`, `opt-in-status` and `region-name` apply.
pub fn describe_regions(names: &[String], filters: &[Filter]) -> Result<Vec<RegionInfo>, Ec2Error> {
    let matcher = Matcher::new(
        filters,
        &["endpoint", "opt-in-status", "region-name"],
        false,
    )?;
    if let Some(unknown) = names.iter().find(|n| !is_known_region(n)) {
        return Err(Ec2Error::InvalidParameterValue(format!(
            "Invalid region: {unknown}"
        )));
    }
    Ok(regions()
        .into_iter()
        .filter(|r| names.is_empty() || names.contains(&r.region_name))
        .filter(|r| {
            matcher.matches(|name| match name {
                "endpoint" => vec![r.endpoint.clone()],
                "opt-in-status" => vec![r.opt_in_status.clone()],
                _ => vec![r.region_name.clone()],
            })
        })
        .collect())
}

/// DescribeAvailabilityZones for `region`: zone names and ids restrict the answer (an unknown
/// one is EC2's `Invalid availability zone: [name]`), and the zone filters apply.
pub fn describe_availability_zones(
    region: &str,
    zone_names: &[String],
    zone_ids: &[String],
    filters: &[Filter],
) -> Result<Vec<AvailabilityZone>, Ec2Error> {
    const NAMES: &[&str] = &[
        "group-long-name",
        "group-name",
        "message",
        "opt-in-status",
        "parent-zone-id",
        "parent-zone-name",
        "region-name",
        "state",
        "zone-id",
        "zone-name",
        "zone-type",
    ];
    let matcher = Matcher::new(filters, NAMES, false)?;
    let zones = availability_zones(region);
    let unknown = zone_names
        .iter()
        .find(|n| !zones.iter().any(|z| &z.zone_name == *n))
        .or_else(|| {
            zone_ids
                .iter()
                .find(|i| !zones.iter().any(|z| &z.zone_id == *i))
        });
    if let Some(unknown) = unknown {
        return Err(Ec2Error::InvalidParameterValue(format!(
            "Invalid availability zone: [{unknown}]"
        )));
    }
    Ok(zones
        .into_iter()
        .filter(|z| zone_names.is_empty() || zone_names.contains(&z.zone_name))
        .filter(|z| zone_ids.is_empty() || zone_ids.contains(&z.zone_id))
        .filter(|z| {
            matcher.matches(|name| match name {
                "group-long-name" => vec![z.group_long_name.clone()],
                "group-name" => vec![z.group_name.clone()],
                "opt-in-status" => vec![z.opt_in_status.clone()],
                "region-name" => vec![z.region_name.clone()],
                "state" => vec![z.state.clone()],
                "zone-id" => vec![z.zone_id.clone()],
                "zone-name" => vec![z.zone_name.clone()],
                "zone-type" => vec![z.zone_type.clone()],
                // Messages and parent zones only exist for Local and Wavelength Zones.
                _ => Vec::new(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_real_zones() {
        let names = |r: &str| {
            availability_zones(r)
                .into_iter()
                .map(|z| z.zone_name)
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            names("us-east-1"),
            "us-east-1a,us-east-1b,us-east-1c,us-east-1d,us-east-1e,us-east-1f"
        );
        assert_eq!(names("us-west-1"), "us-west-1a,us-west-1c");
        assert_eq!(
            names("ap-northeast-1"),
            "ap-northeast-1a,ap-northeast-1c,ap-northeast-1d"
        );
        assert_eq!(
            names("us-west-2"),
            "us-west-2a,us-west-2b,us-west-2c,us-west-2d"
        );
        assert!(is_known_region("eu-west-1"));
        assert!(!is_known_region("us-east-9"));
        assert!(availability_zones("us-east-9").is_empty());
        // Zone ids are unique across the table and carry their region's short id.
        let mut ids: Vec<_> = REGIONS
            .iter()
            .flat_map(|r| r.zones.iter().map(|z| z.1))
            .collect();
        let total = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), total);
        let zone = &availability_zones("us-east-1")[0];
        assert_eq!(zone.zone_id, "use1-az1");
        assert_eq!(zone.group_name, "us-east-1-zg-1");
        assert_eq!(zone.network_border_group, "us-east-1");
        assert_eq!(zone.state, "available");
    }

    #[test]
    fn describe_regions_and_zones() {
        let all = describe_regions(&[], &[]).unwrap();
        assert_eq!(all.len(), REGIONS.len());
        let one = describe_regions(&["eu-west-1".into()], &[]).unwrap();
        assert_eq!(one[0].endpoint, "ec2.eu-west-1.amazonaws.com");
        assert_eq!(one[0].opt_in_status, "opt-in-not-required");
        let err = describe_regions(&["mars-1".into()], &[]).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            ("InvalidParameterValue", "Invalid region: mars-1")
        );
        let filtered =
            describe_regions(&[], &[Filter::new("opt-in-status", &["opted-in"])]).unwrap();
        assert!(filtered.iter().any(|r| r.region_name == "af-south-1"));
        assert!(filtered.iter().all(|r| r.opt_in_status == "opted-in"));
        let err = describe_regions(&[], &[Filter::new("bogus", &["x"])]).unwrap_err();
        assert_eq!(err.to_string(), "The filter 'bogus' is invalid");

        let zones = describe_availability_zones(
            "us-east-1",
            &[],
            &[],
            &[
                Filter::new("zone-id", &["use1-az?"]),
                Filter::new("zone-name", &["*b", "*c"]),
            ],
        )
        .unwrap();
        assert_eq!(
            zones
                .iter()
                .map(|z| z.zone_name.as_str())
                .collect::<Vec<_>>(),
            ["us-east-1b", "us-east-1c"]
        );
        let err =
            describe_availability_zones("us-east-1", &["us-east-1z".into()], &[], &[]).unwrap_err();
        assert_eq!(err.to_string(), "Invalid availability zone: [us-east-1z]");
        let by_id =
            describe_availability_zones("us-east-1", &[], &["use1-az4".into()], &[]).unwrap();
        assert_eq!(by_id[0].zone_name, "us-east-1c");
    }
}
