use super::filter::FilterPattern;
use super::*;

const NOW: i64 = 1_800_000_000_000;

#[test]
fn group_names_follow_cloudwatch_logs() {
    assert_eq!(check_group_name("/ecs/web-app_1.#x"), Ok(()));
    assert_eq!(
        check_group_name("bad name"),
        Err(LogsError::InvalidParameter(
            "1 validation error detected: Value 'bad name' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+".into()
        ))
    );
    assert!(check_group_name("").is_err());
    assert!(check_group_name(&"a".repeat(512)).is_ok());
    assert!(check_group_name(&"a".repeat(513)).is_err());
    assert_eq!(
        check_group_name("aws/lambda"),
        Err(LogsError::InvalidParameter(
            "Log group names can't start with the string aws/".into()
        ))
    );
}

#[test]
fn stream_names_refuse_colons_and_asterisks() {
    assert_eq!(check_stream_name("ecs/web/0123abc"), Ok(()));
    assert!(check_stream_name("a:b").is_err());
    assert!(check_stream_name("a*").is_err());
    assert!(check_stream_name("").is_err());
}

#[test]
fn retention_takes_only_the_listed_periods() {
    assert_eq!(check_retention(30), Ok(()));
    assert_eq!(check_retention(3653), Ok(()));
    let err = check_retention(4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 validation error detected: Value '4' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]"
    );
    assert_eq!(err.code(), "InvalidParameterException");
    assert_eq!(retention_cutoff(NOW, 1), NOW - 86_400_000);
}

#[test]
fn a_batch_in_the_window_is_accepted_whole() {
    let verdict = judge_batch(&[(NOW - 1000, "a"), (NOW, "b")], NOW, None).unwrap();
    assert_eq!(
        verdict,
        BatchVerdict {
            accepted: 0..2,
            too_old_end: None,
            expired_end: None,
            too_new_start: None
        }
    );
}

#[test]
fn old_expired_and_future_events_are_rejected_by_index() {
    let events = [
        (NOW - MAX_PAST_MS - 1, "too old"),
        (NOW - 2 * DAY_MS, "expired under a 1-day retention"),
        (NOW - 1, "kept"),
        (NOW + MAX_FUTURE_MS, "kept: exactly 2 hours ahead"),
        (NOW + MAX_FUTURE_MS + 1, "too new"),
    ];
    let verdict = judge_batch(&events, NOW, Some(1));
    // The oldest two are more than a day apart from the kept ones but rejected, so the span
    // rule sees only what is stored.
    assert_eq!(
        verdict,
        Ok(BatchVerdict {
            accepted: 2..4,
            too_old_end: Some(1),
            expired_end: Some(2),
            too_new_start: Some(4)
        })
    );
}

#[test]
fn a_batch_of_only_rejected_events_stores_nothing() {
    let verdict = judge_batch(&[(NOW + 3 * HOUR_MS, "x")], NOW, None).unwrap();
    assert_eq!(verdict.accepted, 0..0);
    assert_eq!(verdict.too_new_start, Some(0));
}

#[test]
fn batches_out_of_order_too_long_or_too_large_are_refused() {
    assert_eq!(
        judge_batch(&[(NOW, "b"), (NOW - 1, "a")], NOW, None),
        Err(LogsError::InvalidParameter(
            "Log events in a single PutLogEvents request must be in chronological order.".into()
        ))
    );
    assert_eq!(
        judge_batch(&[(NOW - DAY_MS - 1, "a"), (NOW, "b")], NOW, None),
        Err(LogsError::InvalidParameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.".into()
        ))
    );
    let big = "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES);
    assert!(judge_batch(&[(NOW, big.as_str())], NOW, None).is_ok());
    let too_big = "x".repeat(MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES + 1);
    assert_eq!(
        judge_batch(&[(NOW, too_big.as_str())], NOW, None),
        Err(LogsError::InvalidParameter(
            "Upload too large: 1048577 bytes exceeds limit of 1048576".into()
        ))
    );
    let many: Vec<(i64, &str)> = (0..=MAX_BATCH_EVENTS as i64)
        .map(|i| (NOW - i, ""))
        .rev()
        .collect();
    assert!(judge_batch(&many, NOW, None).is_err());
    assert!(judge_batch(&many[1..], NOW, None).is_ok());
    assert!(judge_batch(&[], NOW, None).is_err());
}

#[test]
fn stream_tokens_round_trip_and_refuse_garbage() {
    let position = Position {
        timestamp: NOW,
        sequence: 42,
    };
    let forward = StreamToken::Forward(position);
    assert_eq!(
        forward.encode(),
        "f/0000000180000000000000000000000000000042"
    );
    assert_eq!(StreamToken::decode(&forward.encode()), Ok(forward));
    let backward = StreamToken::Backward(position);
    assert!(backward.encode().starts_with("b/"));
    assert_eq!(StreamToken::decode(&backward.encode()), Ok(backward));
    for garbage in [
        "",
        "f/12",
        "x/0000000180000000000000000000000000000042",
        "f/000000018000000000000000000000000000004x",
    ] {
        assert_eq!(
            StreamToken::decode(garbage),
            Err(LogsError::InvalidParameter(
                "The specified nextToken is invalid.".into()
            )),
            "{garbage}"
        );
    }
}

#[test]
fn page_tokens_belong_to_their_listing() {
    let token = encode_page_token("groups", "/ecs/web");
    assert_eq!(decode_page_token("groups", &token), Ok("/ecs/web"));
    assert!(decode_page_token("streams", &token).is_err());
}

fn matches(pattern: &str, message: &str) -> bool {
    FilterPattern::parse(pattern).unwrap().matches(message)
}

#[test]
fn term_patterns() {
    assert!(matches("", "anything"));
    assert!(matches("ERROR", "[ERROR] disk full"));
    assert!(
        !matches("ERROR", "[error] disk full"),
        "terms are case-sensitive"
    );
    assert!(matches("ERROR disk", "[ERROR] disk full"));
    assert!(!matches("ERROR memory", "[ERROR] disk full"));
    assert!(matches("\"disk full\"", "[ERROR] disk full"));
    assert!(!matches("\"full disk\"", "[ERROR] disk full"));
    assert!(matches("ERROR -timeout", "ERROR disk"));
    assert!(!matches("ERROR -timeout", "ERROR timeout"));
    assert!(matches("?ERROR ?WARN", "WARN low disk"));
    assert!(!matches("?ERROR ?WARN", "INFO ok"));
}

#[test]
fn json_patterns() {
    let event = r#"{"level":"error","latency":150,"user":{"id":"u-17"},"tags":["a","b"],"ok":false,"gone":null}"#;
    assert!(matches("{ $.level = \"error\" }", event));
    assert!(matches("{ $.level = error }", event));
    assert!(!matches("{ $.level = \"info\" }", event));
    assert!(matches("{ $.level != \"info\" }", event));
    assert!(matches("{ $.latency > 100 }", event));
    assert!(matches("{ $.latency >= 150 }", event));
    assert!(!matches("{ $.latency < 150 }", event));
    assert!(matches("{ $.latency <= 150 && $.level = \"err*\" }", event));
    assert!(matches("{ $.user.id = \"u-*\" }", event));
    assert!(matches("{ $.tags[1] = \"b\" }", event));
    assert!(matches(
        "{ ($.latency < 10 || $.level = \"error\") && $.ok IS FALSE }",
        event
    ));
    assert!(matches("{ $.gone IS NULL }", event));
    assert!(matches("{ $.missing NOT EXISTS }", event));
    assert!(!matches("{ $.latency = 150 }", "not json at all 150"));
    assert!(!matches("{ $.missing = 1 }", event));
}

#[test]
fn malformed_and_unsupported_patterns_are_refused() {
    for pattern in [
        "{ $.a = }",
        "{ $.a > \"x\" }",
        "{ $.a = 1",
        "\"unclosed",
        "{ $.a = 1 && }",
    ] {
        assert_eq!(
            FilterPattern::parse(pattern),
            Err(LogsError::InvalidParameter(format!(
                "Invalid filter pattern: {pattern}"
            ))),
            "{pattern}"
        );
    }
    assert!(FilterPattern::parse("[ip, user]").is_err());
}

#[test]
fn errors_carry_cloudwatch_logs_codes() {
    assert_eq!(
        LogsError::group_not_found().code(),
        "ResourceNotFoundException"
    );
    assert_eq!(
        LogsError::group_exists().code(),
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        LogsError::stream_not_found().to_aws_error().message,
        "The specified log stream does not exist."
    );
    assert_eq!(
        LogsError::ServiceUnavailable("disk full".into()).status(),
        500
    );
}
