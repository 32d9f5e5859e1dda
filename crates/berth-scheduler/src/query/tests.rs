//! Snapshot tests of the query language: how expressions parse (printed with every `and`/`or`
//! parenthesised), the errors bad ones get, and which of a fixed fleet each one selects.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};

use super::*;

fn check(source: &str, expect: Expect) {
    let actual = match Query::parse(source) {
        Ok(query) => query.to_string(),
        Err(e) => format!("error: {e}"),
    };
    expect.assert_eq(&actual);
}

struct Sample {
    id: &'static str,
    attributes: BTreeMap<&'static str, Option<&'static str>>,
    ec2: Option<&'static str>,
    registered: &'static str,
    running: u32,
    connected: bool,
    version: Option<&'static str>,
    groups: &'static [&'static str],
}

impl InstanceView for Sample {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes.get(name).copied()
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        self.ec2
    }
    fn registered_at(&self) -> i64 {
        parse_date(self.registered).unwrap().0
    }
    fn running_tasks_count(&self) -> u32 {
        self.running
    }
    fn agent_connected(&self) -> bool {
        self.connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.version
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.groups.iter().any(|g| test(g))
    }
}

/// i1 t2.small prod · i2 t2.medium dev · i3 g2 without stack, disconnected · i4 external.
fn fleet() -> Vec<Sample> {
    vec![
        Sample {
            id: "i1",
            attributes: BTreeMap::from([
                ("ecs.availability-zone", Some("us-east-1a")),
                ("ecs.instance-type", Some("t2.small")),
                ("stack", Some("prod")),
                ("cores", Some("2")),
            ]),
            ec2: Some("i-abcd1234"),
            registered: "2018-02-12T10:00:00Z",
            running: 0,
            connected: true,
            version: Some("1.14.5"),
            groups: &[],
        },
        Sample {
            id: "i2",
            attributes: BTreeMap::from([
                ("ecs.availability-zone", Some("us-east-1b")),
                ("ecs.instance-type", Some("t2.medium")),
                ("stack", Some("dev")),
                ("cores", Some("10")),
            ]),
            ec2: Some("i-wxyz7890"),
            registered: "2018-02-13T00:00:00Z",
            running: 1,
            connected: true,
            version: Some("1.9.0"),
            groups: &["service:production"],
        },
        Sample {
            id: "i3",
            attributes: BTreeMap::from([
                ("ecs.availability-zone", Some("us-east-1d")),
                ("ecs.instance-type", Some("g2.2xlarge")),
                ("special", None),
            ]),
            ec2: Some("i-0000ffff"),
            registered: "2019-06-18T22:28:28+02:00",
            running: 3,
            connected: false,
            version: Some("1.20.0"),
            groups: &["database", "service:web"],
        },
        Sample {
            id: "i4",
            attributes: BTreeMap::from([
                ("ecs.availability-zone", Some("us-east-1a")),
                ("ecs.instance-type", Some("m5.large")),
                ("stack", Some("prod")),
                ("ecs.capability.external", None),
            ]),
            ec2: None,
            registered: "2020-01-01",
            running: 2,
            connected: true,
            version: None,
            groups: &["database"],
        },
    ]
}

fn check_filter(source: &str, expect: Expect) {
    let query = Query::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let selected: Vec<&str> = fleet()
        .iter()
        .filter(|s| query.matches(*s))
        .map(|s| s.id)
        .collect();
    expect.assert_eq(&selected.join(" "));
}

#[test]
fn parses_the_guide_examples() {
    check(
        "attribute:ecs.instance-type == t2.small",
        expect!["attribute:ecs.instance-type == t2.small"],
    );
    check(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        expect!["attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"],
    );
    check(
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        expect![
            "(attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d)"
        ],
    );
    check(
        "task:group == service:production",
        expect!["task:group == service:production"],
    );
    check(
        "not(task:group == database)",
        expect!["not task:group == database"],
    );
    check("runningTasksCount == 1", expect!["runningTasksCount == 1"]);
    check("agentVersion < 1.14.5", expect!["agentVersion < 1.14.5"]);
    check(
        "registeredAt < 2018-02-13",
        expect!["registeredAt < 2018-02-13"],
    );
    check(
        "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        expect!["ec2InstanceId in [i-abcd1234, i-wxyx7890]"],
    );
}

#[test]
fn parses_word_operators_symbols_and_precedence() {
    check(
        "a == b",
        expect![
            "error: unknown subject 'a' at position 1; expected attribute:NAME, agentConnected, agentVersion, ec2InstanceId, registeredAt, runningTasksCount or task:group"
        ],
    );
    check(
        "attribute:a equals 1 or attribute:b not_equals 2 and not attribute:c exists",
        expect!["(attribute:a == 1 or (attribute:b != 2 and not attribute:c exists))"],
    );
    check(
        "(attribute:a exists || attribute:b !exists) && ! attribute:c not_exists",
        expect!["((attribute:a exists or attribute:b !exists) and not attribute:c !exists)"],
    );
    check(
        "attribute:n greater_than 1 AND attribute:n greater_than_equal 2 And attribute:n less_than 3 and attribute:n less_than_equal 4",
        expect![
            "(((attribute:n > 1 and attribute:n >= 2) and attribute:n < 3) and attribute:n <= 4)"
        ],
    );
    check(
        "attribute:a !in (x, 'y z') or attribute:a not_in [\"q\"]",
        expect!["(attribute:a !in [x, 'y z'] or attribute:a !in [q])"],
    );
    check(
        "attribute:a matches 'x|y' or attribute:a not_matches z.* or attribute:a !~ q",
        expect!["((attribute:a =~ 'x|y' or attribute:a !~ z.*) or attribute:a !~ q)"],
    );
    check(
        "attribute:stack==prod&&runningTasksCount<3",
        expect!["(attribute:stack == prod and runningTasksCount < 3)"],
    );
    check(
        "AgentConnected == TRUE and EC2INSTANCEID != i-1",
        expect!["(agentConnected == true and ec2InstanceId != i-1)"],
    );
    check(
        "attribute:Custom.Name == 'it''s'",
        expect![
            "error: unexpected quoted value 's' at position 30; expected 'and', 'or' or the end of the expression"
        ],
    );
    check(
        r"attribute:a == 'it\'s' and attribute:b =~ '\d+'",
        expect![[r#"(attribute:a == 'it\'s' and attribute:b =~ \d+)"#]],
    );
    check(
        "not not attribute:a exists",
        expect!["not not attribute:a exists"],
    );
    check("attribute:a == and", expect!["attribute:a == and"]);
}

#[test]
fn parses_dates_counts_and_booleans_at_parse_time() {
    check(
        "registeredAt >= 2018-06-18T22:28:28+00:00 and registeredAt < 2018-06-18T22:28:28Z or registeredAt == 2018-06-18T22:28:28",
        expect![
            "((registeredAt >= 2018-06-18T22:28:28+00:00 and registeredAt < 2018-06-18T22:28:28Z) or registeredAt == 2018-06-18T22:28:28)"
        ],
    );
    check(
        "registeredAt > 2018-02-30",
        expect![
            "error: invalid date '2018-02-30' at position 16; expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss, optionally followed by Z or an offset such as +00:00"
        ],
    );
    check(
        "registeredAt > 2018-06-18T25:00:00Z",
        expect![
            "error: invalid date '2018-06-18T25:00:00Z' at position 16; expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss, optionally followed by Z or an offset such as +00:00"
        ],
    );
    check(
        "runningTasksCount > few",
        expect!["error: expected a whole number, found 'few' at position 21"],
    );
    check(
        "agentConnected == yes",
        expect!["error: expected true or false, found 'yes' at position 19"],
    );
}

#[test]
fn reports_errors_at_the_token_at_fault() {
    check(
        "attribute:ecs.instance-type ==",
        expect![
            "error: expected a value after '==' at position 31; found the end of the expression"
        ],
    );
    check(
        "attribute:ecs.instance-type == and attribute:x exists",
        expect![
            "error: unexpected 'attribute:x' at position 36; expected 'and', 'or' or the end of the expression"
        ],
    );
    check("", expect!["error: expected an expression at position 1"]);
    check(
        "   ",
        expect!["error: expected an expression at position 4"],
    );
    check(
        "attribute: == x",
        expect!["error: expected an attribute name after 'attribute:' at position 1"],
    );
    check(
        "instanceType == t2.small",
        expect![
            "error: unknown subject 'instanceType' at position 1; expected attribute:NAME, agentConnected, agentVersion, ec2InstanceId, registeredAt, runningTasksCount or task:group"
        ],
    );
    check(
        "attribute:a",
        expect![
            "error: expected an operator after 'attribute:a' at position 12; found the end of the expression"
        ],
    );
    check(
        "attribute:a is b",
        expect![
            "error: unknown operator 'is' at position 13; expected ==, !=, >, >=, <, <=, exists, !exists, in, !in, =~ or !~ (or their word forms such as equals and not_in)"
        ],
    );
    check(
        "attribute:a = b",
        expect!["error: unexpected '=' at position 13; did you mean '==' or '=~'?"],
    );
    check(
        "attribute:a == b & attribute:c exists",
        expect!["error: unexpected '&' at position 18; did you mean '&&'?"],
    );
    check(
        "ec2InstanceId > i-1",
        expect![
            "error: operator '>' cannot be used with ec2InstanceId at position 15; ec2InstanceId takes ==, !=, in, !in, =~, !~"
        ],
    );
    check(
        "runningTasksCount in [1, 2]",
        expect![
            "error: operator 'in' cannot be used with runningTasksCount at position 19; runningTasksCount takes ==, !=, >, >=, <, <="
        ],
    );
    check(
        "attribute:a exists b",
        expect!["error: unexpected 'b' after exists, which takes no value at position 20"],
    );
    check(
        "attribute:a in b",
        expect!["error: expected a list such as [a, b] after 'in' at position 16; found 'b'"],
    );
    check(
        "attribute:a in [b c]",
        expect![
            "error: expected ',' or ']' at position 19; found 'c', and the '[' at position 16 is still open"
        ],
    );
    check(
        "attribute:a in []",
        expect!["error: expected a value in the list at position 17; found ']'"],
    );
    check(
        "attribute:a in [b,",
        expect![
            "error: expected a value in the list at position 19; found the end of the expression"
        ],
    );
    check(
        "(attribute:a exists",
        expect![
            "error: expected ')' at position 20; found the end of the expression, and the '(' at position 1 is still open"
        ],
    );
    check(
        "attribute:a exists)",
        expect![
            "error: unexpected ')' at position 19; expected 'and', 'or' or the end of the expression"
        ],
    );
    check(
        "()",
        expect!["error: expected an expression inside '()' at position 2"],
    );
    check(
        "attribute:a exists and",
        expect!["error: expected an expression after 'and' at position 23"],
    );
    check(
        "not",
        expect!["error: expected an expression after 'not' at position 4"],
    );
    check(
        "'attribute:a' exists",
        expect![
            "error: expected a subject, found quoted value 'attribute:a' at position 1; expected attribute:NAME, agentConnected, agentVersion, ec2InstanceId, registeredAt, runningTasksCount or task:group"
        ],
    );
    check(
        "attribute:a == 'open",
        expect!["error: unterminated quoted value at position 16; add the closing '"],
    );
    check(
        "attribute:a =~ 'x('",
        expect!["error: invalid pattern 'x(' at position 16; unclosed group"],
    );
    check(
        &format!("attribute:a == {}", "x".repeat(2000)),
        expect![
            "error: expression is too long at position 2001; it has 2015 characters and ECS allows 2000"
        ],
    );
}

#[test]
fn selects_by_attribute() {
    check_filter("attribute:ecs.instance-type == t2.small", expect!["i1"]);
    check_filter("attribute:ecs.instance-type =~ t2.*", expect!["i1 i2"]);
    check_filter("attribute:ecs.instance-type =~ t2", expect![""]);
    check_filter("attribute:ecs.instance-type !~ t2.*", expect!["i3 i4"]);
    check_filter(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        expect!["i1 i2 i4"],
    );
    check_filter(
        "attribute:ecs.availability-zone not_in [us-east-1a]",
        expect!["i2 i3"],
    );
    // A missing attribute fails every comparison, != included; not(==) keeps it.
    check_filter("attribute:stack != prod", expect!["i2"]);
    check_filter("not attribute:stack == prod", expect!["i2 i3"]);
    check_filter("attribute:stack exists", expect!["i1 i2 i4"]);
    check_filter("attribute:stack !exists", expect!["i3"]);
    // Present without a value: it exists, but equals nothing.
    check_filter("attribute:special exists", expect!["i3"]);
    check_filter("attribute:special == ''", expect![""]);
    // Numbers compare as numbers (2 < 10), other values as strings.
    check_filter("attribute:cores < 10", expect!["i1"]);
    check_filter("attribute:cores >= 10", expect!["i2"]);
    check_filter("attribute:cores == 10.0", expect!["i2"]);
    check_filter("attribute:stack > dev", expect!["i1 i4"]);
    check_filter(
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        expect![""],
    );
    check_filter(
        "(attribute:stack == prod or attribute:ecs.instance-type =~ g2.*) and not attribute:ecs.capability.external exists",
        expect!["i1 i3"],
    );
}

#[test]
fn selects_by_instance_fields() {
    check_filter("ec2InstanceId == i-abcd1234", expect!["i1"]);
    check_filter("ec2InstanceId != i-abcd1234", expect!["i2 i3"]);
    check_filter(
        "ec2InstanceId in ['i-abcd1234', 'i-wxyz7890']",
        expect!["i1 i2"],
    );
    check_filter("ec2InstanceId =~ 'i-[a-z]+\\d+'", expect!["i1 i2"]);
    check_filter("agentConnected == false", expect!["i3"]);
    check_filter("agentConnected != true", expect!["i3"]);
    check_filter("agentConnected in [true]", expect!["i1 i2 i4"]);
    check_filter("agentVersion < 1.14.5", expect!["i2"]);
    check_filter("agentVersion >= 1.14.5", expect!["i1 i3"]);
    check_filter("agentVersion == 1.14.5.0", expect!["i1"]);
    check_filter("runningTasksCount == 0", expect!["i1"]);
    check_filter("runningTasksCount > 1", expect!["i3 i4"]);
    check_filter("runningTasksCount <= 1", expect!["i1 i2"]);
}

#[test]
fn selects_by_registration_date() {
    check_filter("registeredAt < 2018-02-13", expect!["i1"]);
    // A bare date compares days: i2 registered at midnight on the 13th.
    check_filter("registeredAt == 2018-02-13", expect!["i2"]);
    check_filter("registeredAt > 2018-02-13", expect!["i3 i4"]);
    check_filter("registeredAt >= 2018-02-13T00:00:00Z", expect!["i2 i3 i4"]);
    check_filter("registeredAt > 2018-02-13T00:00:00-01:00", expect!["i3 i4"]);
    // i3 registered at 22:28:28+02:00, which is 20:28:28 UTC.
    check_filter("registeredAt == 2019-06-18T20:28:28", expect!["i3"]);
    check_filter("registeredAt == 2019-06-18T20:28:28.500Z", expect!["i3"]);
}

#[test]
fn selects_by_task_group() {
    check_filter("task:group == database", expect!["i3 i4"]);
    check_filter("not(task:group == database)", expect!["i1 i2"]);
    check_filter("task:group =~ service:.*", expect!["i2 i3"]);
    check_filter(
        "task:group in [service:web, service:production]",
        expect!["i2 i3"],
    );
    check_filter("task:group exists", expect!["i2 i3 i4"]);
    check_filter("task:group !exists", expect!["i1"]);
    // Any group may satisfy it: i3 has service:web besides database.
    check_filter("task:group != database", expect!["i2 i3"]);
}

#[test]
fn knows_which_expressions_depend_on_placed_tasks() {
    let depends = |s: &str| Query::parse(s).unwrap().depends_on_tasks();
    assert!(!depends("attribute:a == b and ec2InstanceId != i-1"));
    assert!(depends("attribute:a == b or not task:group == db"));
    assert!(depends("runningTasksCount < 3"));
}
