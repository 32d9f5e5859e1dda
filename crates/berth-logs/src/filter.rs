//! CloudWatch Logs filter patterns over unstructured and JSON log events:
//!
//! - terms: `ERROR timeout` matches events containing every term (case-sensitive);
//!   `"connection reset"` is one term with its space; `-DEBUG` excludes events with the term;
//!   `?ERROR ?WARN` matches events with any of the `?` terms;
//! - JSON: `{ $.level = "error" }`, `{ $.latency >= 100 && $.path != "/health" }`, selectors
//!   `$.a.b` and `$.list[0]`, `=`/`!=` on strings (a `*` in a string value is a wildcard) and
//!   numbers, `<`, `>`, `<=`, `>=` on numbers, `&&`, `||` and parentheses, and `IS TRUE`,
//!   `IS FALSE`, `IS NULL`, `NOT EXISTS`. An event that is not JSON matches no JSON pattern.
//!
//! Space-delimited (`[ip, user, …]`) and regular-expression (`%…%`) patterns are refused with
//! InvalidParameterException rather than matched wrongly.

use serde_json::Value;

use crate::LogsError;

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterPattern {
    /// The empty pattern: every event.
    Everything,
    Terms(Terms),
    Json(Expression),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Terms {
    required: Vec<String>,
    excluded: Vec<String>,
    any_of: Vec<String>,
}

/// A JSON pattern's expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    And(Box<Expression>, Box<Expression>),
    Or(Box<Expression>, Box<Expression>),
    Compare {
        selector: Vec<Step>,
        operator: Operator,
        value: Literal,
    },
    /// `IS TRUE`, `IS FALSE`, `IS NULL`.
    Is(Vec<Step>, Value),
    NotExists(Vec<Step>),
}

/// One step of a selector: `.name` or `[index]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Text(String),
}

fn invalid(pattern: &str) -> LogsError {
    LogsError::InvalidParameter(format!("Invalid filter pattern: {pattern}"))
}

impl FilterPattern {
    pub fn parse(pattern: &str) -> Result<FilterPattern, LogsError> {
        let trimmed = pattern.trim();
        if trimmed.is_empty() {
            return Ok(FilterPattern::Everything);
        }
        if trimmed.starts_with('{') {
            let inner = trimmed
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
                .ok_or_else(|| invalid(pattern))?;
            let tokens = lex(inner).ok_or_else(|| invalid(pattern))?;
            let mut parser = Parser { tokens, at: 0 };
            let expression = parser.or().ok_or_else(|| invalid(pattern))?;
            if parser.at != parser.tokens.len() {
                return Err(invalid(pattern));
            }
            return Ok(FilterPattern::Json(expression));
        }
        if trimmed.starts_with('[') || trimmed.starts_with('%') {
            return Err(LogsError::InvalidParameter(format!(
                "Space-delimited and regular-expression filter patterns are not supported yet: {pattern}"
            )));
        }
        parse_terms(trimmed)
            .map(FilterPattern::Terms)
            .ok_or_else(|| invalid(pattern))
    }

    /// Whether an event's message matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            FilterPattern::Everything => true,
            FilterPattern::Terms(terms) => terms.matches(message),
            FilterPattern::Json(expression) => serde_json::from_str::<Value>(message)
                .is_ok_and(|document| expression.matches(&document)),
        }
    }
}

fn parse_terms(pattern: &str) -> Option<Terms> {
    let mut terms = Terms::default();
    let mut chars = pattern.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            break;
        };
        let mut kind = ' ';
        if first == '-' || first == '?' {
            kind = first;
            chars.next();
        }
        let mut term = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => term.push(chars.next()?),
                    c => term.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                term.push(c);
            }
        }
        if term.is_empty() {
            return None;
        }
        match kind {
            '-' => terms.excluded.push(term),
            '?' => terms.any_of.push(term),
            _ => terms.required.push(term),
        }
    }
    Some(terms)
}

impl Terms {
    fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| message.contains(t.as_str()))
            && !self.excluded.iter().any(|t| message.contains(t.as_str()))
            && (self.any_of.is_empty() || self.any_of.iter().any(|t| message.contains(t.as_str())))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Selector(Vec<Step>),
    Operator(Operator),
    Text(String),
    Word(String),
    And,
    Or,
    Open,
    Close,
}

fn lex(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '&' | '|' => {
                chars.next();
                if chars.next()? != c {
                    return None;
                }
                tokens.push(if c == '&' { Token::And } else { Token::Or });
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let equals = chars.next_if_eq(&'=').is_some();
                tokens.push(Token::Operator(match (c, equals) {
                    ('=', false) => Operator::Equal,
                    ('!', true) => Operator::NotEqual,
                    ('<', false) => Operator::Less,
                    ('<', true) => Operator::LessOrEqual,
                    ('>', false) => Operator::Greater,
                    ('>', true) => Operator::GreaterOrEqual,
                    _ => return None,
                }));
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => value.push(chars.next()?),
                        c => value.push(c),
                    }
                }
                tokens.push(Token::Text(value));
            }
            '$' => {
                chars.next();
                let mut steps = Vec::new();
                loop {
                    if chars.next_if_eq(&'.').is_some() {
                        let mut name = String::new();
                        while let Some(c) =
                            chars.next_if(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                        {
                            name.push(c);
                        }
                        if name.is_empty() {
                            return None;
                        }
                        steps.push(Step::Field(name));
                    } else if chars.next_if_eq(&'[').is_some() {
                        let mut digits = String::new();
                        while let Some(c) = chars.next_if(char::is_ascii_digit) {
                            digits.push(c);
                        }
                        if chars.next()? != ']' {
                            return None;
                        }
                        steps.push(Step::Index(digits.parse().ok()?));
                    } else {
                        break;
                    }
                }
                if steps.is_empty() {
                    return None;
                }
                tokens.push(Token::Selector(steps));
            }
            _ => {
                let mut word = String::new();
                while let Some(c) =
                    chars.next_if(|c| !c.is_whitespace() && !"()&|=!<>\"".contains(*c))
                {
                    word.push(c);
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Option<Expression> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Expression::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Expression> {
        let mut left = self.primary()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Expression::And(Box::new(left), Box::new(self.primary()?));
        }
        Some(left)
    }

    fn primary(&mut self) -> Option<Expression> {
        match self.next()? {
            Token::Open => {
                let inner = self.or()?;
                (self.next()? == Token::Close).then_some(inner)
            }
            Token::Selector(selector) => self.condition(selector),
            _ => None,
        }
    }

    fn condition(&mut self, selector: Vec<Step>) -> Option<Expression> {
        match self.next()? {
            Token::Operator(operator) => {
                let value = match self.next()? {
                    Token::Text(text) => Literal::Text(text),
                    Token::Word(word) => match word.parse::<f64>() {
                        Ok(number) => Literal::Number(number),
                        Err(_) => Literal::Text(word),
                    },
                    _ => return None,
                };
                let numeric_only = !matches!(operator, Operator::Equal | Operator::NotEqual);
                if numeric_only && !matches!(value, Literal::Number(_)) {
                    return None;
                }
                Some(Expression::Compare {
                    selector,
                    operator,
                    value,
                })
            }
            Token::Word(word) if word.eq_ignore_ascii_case("IS") => {
                let Token::Word(what) = self.next()? else {
                    return None;
                };
                let value = match what.to_ascii_uppercase().as_str() {
                    "TRUE" => Value::Bool(true),
                    "FALSE" => Value::Bool(false),
                    "NULL" => Value::Null,
                    _ => return None,
                };
                Some(Expression::Is(selector, value))
            }
            Token::Word(word) if word.eq_ignore_ascii_case("NOT") => match self.next()? {
                Token::Word(exists) if exists.eq_ignore_ascii_case("EXISTS") => {
                    Some(Expression::NotExists(selector))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

fn select<'a>(document: &'a Value, selector: &[Step]) -> Option<&'a Value> {
    selector
        .iter()
        .try_fold(document, |value, step| match step {
            Step::Field(name) => value.get(name.as_str()),
            Step::Index(index) => value.get(*index),
        })
}

/// `*` in `pattern` stands for any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl Expression {
    pub fn matches(&self, document: &Value) -> bool {
        match self {
            Expression::And(left, right) => left.matches(document) && right.matches(document),
            Expression::Or(left, right) => left.matches(document) || right.matches(document),
            Expression::Is(selector, expected) => select(document, selector) == Some(expected),
            Expression::NotExists(selector) => select(document, selector).is_none(),
            Expression::Compare {
                selector,
                operator,
                value,
            } => {
                let Some(found) = select(document, selector) else {
                    return false;
                };
                match value {
                    Literal::Number(expected) => {
                        let Some(actual) = found.as_f64() else {
                            return false;
                        };
                        match operator {
                            Operator::Equal => actual == *expected,
                            Operator::NotEqual => actual != *expected,
                            Operator::Less => actual < *expected,
                            Operator::Greater => actual > *expected,
                            Operator::LessOrEqual => actual <= *expected,
                            Operator::GreaterOrEqual => actual >= *expected,
                        }
                    }
                    Literal::Text(expected) => {
                        let actual = match found {
                            Value::String(text) => text.clone(),
                            Value::Number(_) | Value::Bool(_) => found.to_string(),
                            _ => return false,
                        };
                        let equal = wildcard_match(expected, &actual);
                        match operator {
                            Operator::Equal => equal,
                            Operator::NotEqual => !equal,
                            _ => false,
                        }
                    }
                }
            }
        }
    }
}
