//! The cluster query language: ECS's `subject operator [argument]` expressions joined with
//! and/or/not, parsed once into a [`Query`] and evaluated against any [`InstanceView`].
//! memberOf constraints and ListContainerInstances' `filter` share it.
//!
//! Semantics where the ECS guide is silent (each is what its examples imply):
//! - A comparison on a missing attribute is false, `!=` included (the guide's
//!   `attribute:stack != prod` lists instances "with the attribute stack unless it is prod");
//!   only `!exists` holds. Use `not(attribute:stack == prod)` to include instances without it.
//! - `task:group` compares against each group with tasks on the instance and holds if any does.
//! - Values compare as numbers when both sides are decimal numbers, else as strings;
//!   `agentVersion` compares dotted versions component by component.
//! - `registeredAt` against a bare date compares calendar days (UTC); against a timestamp,
//!   seconds.
//! - `=~` is a regular expression (ECS documents Java's) that must match the whole value,
//!   as Java's `matches` does: `t2.*` selects every t2 type.
//! - Keywords (`and`, `not_in`, subject names, …) are case-insensitive; values are not.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

/// ECS caps an expression at 2000 characters (PlacementConstraint.expression).
pub const MAX_EXPRESSION_LEN: usize = 2000;

/// What an expression can ask of a container instance.
pub trait InstanceView {
    /// `None` when the instance lacks the attribute, `Some(None)` when it has it without a value.
    fn attribute(&self, name: &str) -> Option<Option<&str>>;
    fn ec2_instance_id(&self) -> Option<&str>;
    /// Seconds since the Unix epoch.
    fn registered_at(&self) -> i64;
    fn running_tasks_count(&self) -> u32;
    fn agent_connected(&self) -> bool;
    fn agent_version(&self) -> Option<&str>;
    /// Whether any task group with tasks on the instance passes `test`.
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool;
}

/// A parse error: what was expected, and the 1-based character position of the token at fault
/// (one past the end when the expression stopped short).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}{}", if hint.is_empty() { String::new() } else { format!("; {hint}") })]
pub struct QueryError {
    pub message: String,
    pub position: usize,
    pub hint: String,
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Query {
    source: String,
    expr: Expr,
}

/// Two queries are equal when their text is: the parsed form holds compiled regular
/// expressions, which do not compare.
impl PartialEq for Query {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Query {}

impl Query {
    pub fn parse(source: &str) -> Result<Query, QueryError> {
        let length = source.chars().count();
        if length > MAX_EXPRESSION_LEN {
            return Err(
                error("expression is too long", MAX_EXPRESSION_LEN + 1).hint(format!(
                    "it has {length} characters and ECS allows {MAX_EXPRESSION_LEN}"
                )),
            );
        }
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            tokens,
            next: 0,
            end: length + 1,
            after_exists: None,
        };
        let expr = parser.expression()?;
        if let Some(token) = parser.peek() {
            let hint = "expected 'and', 'or' or the end of the expression";
            return Err(
                if parser.after_exists == Some(parser.next) && token.is_value() {
                    error(
                        format!(
                            "unexpected {} after exists, which takes no value",
                            token.describe()
                        ),
                        token.position,
                    )
                } else {
                    error(format!("unexpected {}", token.describe()), token.position).hint(hint)
                },
            );
        }
        Ok(Query {
            source: source.to_owned(),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, instance: &(impl InstanceView + ?Sized)) -> bool {
        self.expr.eval(instance)
    }

    /// Whether the answer can change as tasks are placed (it reads `runningTasksCount` or
    /// `task:group`); other expressions depend only on what an instance registered with.
    pub fn depends_on_tasks(&self) -> bool {
        self.expr.depends_on_tasks()
    }
}

/// The canonical form: every `and`/`or` parenthesised, so precedence is visible.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Comparison),
}

impl Expr {
    fn eval(&self, instance: &(impl InstanceView + ?Sized)) -> bool {
        match self {
            Expr::And(a, b) => a.eval(instance) && b.eval(instance),
            Expr::Or(a, b) => a.eval(instance) || b.eval(instance),
            Expr::Not(a) => !a.eval(instance),
            Expr::Compare(c) => c.eval(instance),
        }
    }

    fn depends_on_tasks(&self) -> bool {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.depends_on_tasks() || b.depends_on_tasks(),
            Expr::Not(a) => a.depends_on_tasks(),
            Expr::Compare(c) => {
                matches!(c.subject, Subject::RunningTasksCount | Subject::TaskGroup)
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
            Expr::Not(a) => write!(f, "not {a}"),
            Expr::Compare(c) => c.fmt(f),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Attribute(String),
    AgentConnected,
    AgentVersion,
    Ec2InstanceId,
    RegisteredAt,
    RunningTasksCount,
    TaskGroup,
}

const SUBJECTS: &str = "expected attribute:NAME, agentConnected, agentVersion, ec2InstanceId, \
                        registeredAt, runningTasksCount or task:group";

impl Subject {
    fn parse(word: &str) -> Option<Subject> {
        let lower = word.to_ascii_lowercase();
        if let Some(name) = lower.strip_prefix("attribute:") {
            // Attribute names keep their case: only the prefix is a keyword.
            return (!name.is_empty()).then(|| Subject::Attribute(word[10..].to_owned()));
        }
        Some(match lower.as_str() {
            "agentconnected" => Subject::AgentConnected,
            "agentversion" => Subject::AgentVersion,
            "ec2instanceid" => Subject::Ec2InstanceId,
            "registeredat" => Subject::RegisteredAt,
            "runningtaskscount" => Subject::RunningTasksCount,
            "task:group" => Subject::TaskGroup,
            _ => return None,
        })
    }

    /// The operators the ECS guide lists for the subject; it lists none for attributes and
    /// task groups, which take them all.
    fn allows(&self, op: Op) -> bool {
        use Op::*;
        match self {
            Subject::AgentConnected | Subject::Ec2InstanceId => {
                matches!(op, Eq | Ne | In | NotIn | Matches | NotMatches)
            }
            Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount => {
                matches!(op, Eq | Ne | Gt | Ge | Lt | Le)
            }
            Subject::Attribute(_) | Subject::TaskGroup => true,
        }
    }

    fn allowed(&self) -> &'static str {
        match self {
            Subject::AgentConnected | Subject::Ec2InstanceId => "==, !=, in, !in, =~, !~",
            _ => "==, !=, >, >=, <, <=",
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Attribute(name) => write!(f, "attribute:{name}"),
            Subject::AgentConnected => f.write_str("agentConnected"),
            Subject::AgentVersion => f.write_str("agentVersion"),
            Subject::Ec2InstanceId => f.write_str("ec2InstanceId"),
            Subject::RegisteredAt => f.write_str("registeredAt"),
            Subject::RunningTasksCount => f.write_str("runningTasksCount"),
            Subject::TaskGroup => f.write_str("task:group"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
}

impl Op {
    fn from_symbol(symbol: &str) -> Option<Op> {
        Some(match symbol {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "=~" => Op::Matches,
            "!~" => Op::NotMatches,
            _ => return None,
        })
    }

    fn from_word(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "equals" => Op::Eq,
            "not_equals" => Op::Ne,
            "greater_than" => Op::Gt,
            "greater_than_equal" => Op::Ge,
            "less_than" => Op::Lt,
            "less_than_equal" => Op::Le,
            "exists" => Op::Exists,
            "not_exists" => Op::NotExists,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "matches" => Op::Matches,
            "not_matches" => Op::NotMatches,
            _ => return None,
        })
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Eq => ordering.is_eq(),
            Op::Ne => ordering.is_ne(),
            Op::Gt => ordering.is_gt(),
            Op::Ge => ordering.is_ge(),
            Op::Lt => ordering.is_lt(),
            Op::Le => ordering.is_le(),
            _ => unreachable!("{self} is not an ordering operator"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Exists => "exists",
            Op::NotExists => "!exists",
            Op::In => "in",
            Op::NotIn => "!in",
            Op::Matches => "=~",
            Op::NotMatches => "!~",
        })
    }
}

#[derive(Debug, Clone)]
struct Comparison {
    subject: Subject,
    op: Op,
    argument: Argument,
}

#[derive(Debug, Clone)]
enum Argument {
    None,
    One(Value),
    List(Vec<Value>),
    Pattern(Regex, String),
}

/// An argument, converted at parse time to what its subject compares against.
#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Count(u64),
    Date {
        seconds: i64,
        date_only: bool,
        text: String,
    },
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(text) | Value::Date { text, .. } => write_value(f, text),
            Value::Count(n) => write!(f, "{n}"),
        }
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if !text.is_empty() && text.chars().all(is_word_char) {
        f.write_str(text)
    } else {
        write!(f, "'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject, self.op)?;
        match &self.argument {
            Argument::None => Ok(()),
            Argument::One(value) => write!(f, " {value}"),
            Argument::List(values) => {
                f.write_str(" [")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
            Argument::Pattern(_, source) => {
                f.write_str(" ")?;
                write_value(f, source)
            }
        }
    }
}

impl Comparison {
    fn eval(&self, instance: &(impl InstanceView + ?Sized)) -> bool {
        match &self.subject {
            Subject::Attribute(name) => match (instance.attribute(name), self.op) {
                (None, op) => op == Op::NotExists,
                (Some(_), Op::Exists) => true,
                (Some(_), Op::NotExists) => false,
                (Some(value), _) => value.is_some_and(|v| self.test_text(v)),
            },
            Subject::TaskGroup => match self.op {
                Op::Exists => instance.any_task_group(&mut |_| true),
                Op::NotExists => !instance.any_task_group(&mut |_| true),
                _ => instance.any_task_group(&mut |group| self.test_text(group)),
            },
            Subject::Ec2InstanceId => instance
                .ec2_instance_id()
                .is_some_and(|id| self.test_text(id)),
            Subject::AgentConnected => self.test_text(if instance.agent_connected() {
                "true"
            } else {
                "false"
            }),
            Subject::AgentVersion => instance
                .agent_version()
                .is_some_and(|version| self.test_ordered(|v| compare_versions(version, v))),
            Subject::RunningTasksCount => {
                let count = u64::from(instance.running_tasks_count());
                self.test_ordered(|v| match v {
                    Value::Count(n) => count.cmp(n),
                    _ => unreachable!("runningTasksCount arguments are parsed as counts"),
                })
            }
            Subject::RegisteredAt => {
                let at = instance.registered_at();
                self.test_ordered(|v| match v {
                    Value::Date {
                        seconds,
                        date_only: true,
                        ..
                    } => at.div_euclid(DAY).cmp(&seconds.div_euclid(DAY)),
                    Value::Date { seconds, .. } => at.cmp(seconds),
                    _ => unreachable!("registeredAt arguments are parsed as dates"),
                })
            }
        }
    }

    /// Applies an ordering operator (`==` … `<=`) through `compare`, which orders the
    /// instance's side against the argument.
    fn test_ordered(&self, compare: impl Fn(&Value) -> Ordering) -> bool {
        match &self.argument {
            Argument::One(value) => self.op.holds(compare(value)),
            _ => unreachable!("ordering operators take one value"),
        }
    }

    fn test_text(&self, actual: &str) -> bool {
        match (&self.argument, self.op) {
            (Argument::Pattern(regex, _), Op::Matches) => regex.is_match(actual),
            (Argument::Pattern(regex, _), _) => !regex.is_match(actual),
            (Argument::List(values), Op::In) => values.iter().any(|v| text_equal(actual, v)),
            (Argument::List(values), _) => !values.iter().any(|v| text_equal(actual, v)),
            (Argument::One(value), op) => op.holds(compare_text(actual, value)),
            (Argument::None, _) => unreachable!("exists is answered before values are compared"),
        }
    }
}

fn text_equal(actual: &str, value: &Value) -> bool {
    compare_text(actual, value).is_eq()
}

fn compare_text(actual: &str, value: &Value) -> Ordering {
    let Value::Text(expected) = value else {
        unreachable!("text subjects take text arguments")
    };
    match (decimal(actual), decimal(expected)) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        _ => actual.cmp(expected),
    }
}

/// A plain decimal (`-12`, `3.5`), never `inf`, `NaN` or `1e5`, which `f64::from_str` takes.
fn decimal(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next()?;
    let fraction = parts.next();
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if all_digits(whole) && fraction.is_none_or(all_digits) {
        text.parse().ok()
    } else {
        None
    }
}

fn compare_versions(actual: &str, value: &Value) -> Ordering {
    let Value::Text(expected) = value else {
        unreachable!("agentVersion arguments are text")
    };
    let parts = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
    match (parts(actual), parts(expected)) {
        (Some(mut a), Some(mut b)) => {
            let len = a.len().max(b.len());
            a.resize(len, 0);
            b.resize(len, 0);
            a.cmp(&b)
        }
        _ => actual.cmp(expected),
    }
}

const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    Symbol,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    position: usize,
}

impl Token {
    fn is_symbol(&self, symbol: &str) -> bool {
        self.kind == Kind::Symbol && self.text == symbol
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    fn is_value(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Quoted)
    }

    fn describe(&self) -> String {
        match self.kind {
            Kind::Quoted => format!("quoted value '{}'", self.text),
            _ => format!("'{}'", self.text),
        }
    }
}

const SINGLE_SYMBOLS: &str = "()[],!<>";
const DELIMITERS: &str = "()[],'\"!=<>~&|";

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !DELIMITERS.contains(c)
}

fn tokenize(source: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(error("unterminated quoted value", position)
                            .hint(format!("add the closing {c}")));
                    }
                    Some(&q) if q == c => break,
                    // Only the quote and the backslash are escapes, so regular expressions
                    // like '\d+' keep their backslashes.
                    Some('\\') if matches!(chars.get(i + 1), Some(&e) if e == c || e == '\\') => {
                        text.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push(Token {
                kind: Kind::Quoted,
                text,
                position,
            });
        } else if let Some(pair) = next
            .map(|n| format!("{c}{n}"))
            .filter(|p| ["==", "!=", ">=", "<=", "=~", "!~", "&&", "||"].contains(&p.as_str()))
        {
            i += 2;
            tokens.push(Token {
                kind: Kind::Symbol,
                text: pair,
                position,
            });
        } else if SINGLE_SYMBOLS.contains(c) {
            i += 1;
            tokens.push(Token {
                kind: Kind::Symbol,
                text: c.to_string(),
                position,
            });
        } else if "=&|~".contains(c) {
            let meant = match c {
                '=' => "'==' or '=~'",
                '&' => "'&&'",
                '|' => "'||'",
                _ => "'=~' or '!~'",
            };
            return Err(
                error(format!("unexpected '{c}'"), position).hint(format!("did you mean {meant}?"))
            );
        } else {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token {
                kind: Kind::Word,
                text: chars[start..i].iter().collect(),
                position,
            });
        }
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------------
// Parser: expression := and ('or' and)* ; and := unary ('and' unary)* ;
// unary := 'not' unary | '(' expression ')' | subject operator [argument]

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// The position reported when the expression stops short.
    end: usize,
    /// The token index just after the last `exists`/`!exists`, to explain a value after it.
    after_exists: Option<usize>,
}

fn error(message: impl Into<String>, position: usize) -> QueryError {
    QueryError {
        message: message.into(),
        position,
        hint: String::new(),
    }
}

impl QueryError {
    fn hint(mut self, hint: impl Into<String>) -> QueryError {
        self.hint = hint.into();
        self
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end, |t| t.position)
    }

    /// What the parser found where it expected something: the token, or the end.
    fn found(&self) -> String {
        self.peek()
            .map_or("the end of the expression".to_owned(), Token::describe)
    }

    fn expression(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while let Some(token) = self
            .peek()
            .filter(|t| t.is_keyword("or") || t.is_symbol("||"))
        {
            let op = token.text.clone();
            self.bump();
            let right = self.operand(&op, Parser::and)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while let Some(token) = self
            .peek()
            .filter(|t| t.is_keyword("and") || t.is_symbol("&&"))
        {
            let op = token.text.clone();
            self.bump();
            let right = self.operand(&op, Parser::unary)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// The operand after a combinator, with an error naming the combinator when there is none.
    fn operand(
        &mut self,
        combinator: &str,
        parse: fn(&mut Parser) -> Result<Expr, QueryError>,
    ) -> Result<Expr, QueryError> {
        if self.peek().is_none() {
            return Err(error(
                format!("expected an expression after '{combinator}'"),
                self.end,
            ));
        }
        parse(self)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        let Some(token) = self.peek().cloned() else {
            return Err(error("expected an expression", self.end));
        };
        if token.is_keyword("not") || token.is_symbol("!") {
            self.bump();
            let operand = self.operand(&token.text, Parser::unary)?;
            return Ok(Expr::Not(Box::new(operand)));
        }
        if token.is_symbol("(") {
            self.bump();
            if self.peek().is_some_and(|t| t.is_symbol(")")) {
                return Err(error("expected an expression inside '()'", self.position()));
            }
            let inner = self.expression()?;
            if !self.peek().is_some_and(|t| t.is_symbol(")")) {
                return Err(error("expected ')'", self.position()).hint(format!(
                    "found {}, and the '(' at position {} is still open",
                    self.found(),
                    token.position
                )));
            }
            self.bump();
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let token = self.bump().expect("unary checked that a token follows");
        if token.kind != Kind::Word {
            return Err(error(
                format!("expected a subject, found {}", token.describe()),
                token.position,
            )
            .hint(SUBJECTS));
        }
        let subject = Subject::parse(&token.text).ok_or_else(|| {
            if token.text.eq_ignore_ascii_case("attribute:") {
                error(
                    "expected an attribute name after 'attribute:'",
                    token.position,
                )
            } else {
                error(format!("unknown subject '{}'", token.text), token.position).hint(SUBJECTS)
            }
        })?;
        let (op, op_token) = self.operator(&token.text)?;
        if !subject.allows(op) {
            return Err(error(
                format!("operator '{}' cannot be used with {subject}", op_token.text),
                op_token.position,
            )
            .hint(format!("{subject} takes {}", subject.allowed())));
        }
        let argument = match op {
            Op::Exists | Op::NotExists => {
                self.after_exists = Some(self.next);
                Argument::None
            }
            Op::In | Op::NotIn => Argument::List(self.list(&subject, &op_token)?),
            Op::Matches | Op::NotMatches => {
                let value = self.value(&op_token)?;
                // Anchored: Java's `matches`, which ECS documents, tests the whole value.
                let regex = Regex::new(&format!("^(?:{})$", value.text)).map_err(|e| {
                    error(format!("invalid pattern '{}'", value.text), value.position)
                        .hint(regex_problem(&e))
                })?;
                Argument::Pattern(regex, value.text)
            }
            _ => Argument::One(self.typed_value(&subject, &op_token)?),
        };
        Ok(Expr::Compare(Comparison {
            subject,
            op,
            argument,
        }))
    }

    fn operator(&mut self, subject: &str) -> Result<(Op, Token), QueryError> {
        let missing = |parser: &Parser| {
            error(
                format!("expected an operator after '{subject}'"),
                parser.position(),
            )
            .hint(format!("found {}", parser.found()))
        };
        let Some(token) = self.peek().cloned() else {
            return Err(missing(self));
        };
        let op = match token.kind {
            Kind::Symbol if token.text == "!" => {
                // `!exists` and `!in` are one operator written as two tokens.
                let word = match self.tokens.get(self.next + 1) {
                    Some(t) if t.kind == Kind::Word => t.text.to_ascii_lowercase(),
                    _ => String::new(),
                };
                let op = match word.as_str() {
                    "exists" => Some(Op::NotExists),
                    "in" => Some(Op::NotIn),
                    _ => None,
                };
                if op.is_some() {
                    self.next += 1;
                }
                op
            }
            Kind::Symbol => Op::from_symbol(&token.text),
            Kind::Word => Op::from_word(&token.text),
            Kind::Quoted => None,
        };
        let Some(op) = op else {
            return Err(if token.kind == Kind::Word {
                error(format!("unknown operator '{}'", token.text), token.position).hint(
                    "expected ==, !=, >, >=, <, <=, exists, !exists, in, !in, =~ or !~ \
                     (or their word forms such as equals and not_in)",
                )
            } else {
                missing(self)
            });
        };
        self.next += 1;
        Ok((op, token))
    }

    fn value(&mut self, after: &Token) -> Result<Token, QueryError> {
        match self.peek() {
            Some(token) if token.is_value() => Ok(self.bump().expect("peeked")),
            _ => Err(error(
                format!("expected a value after '{}'", after.text),
                self.position(),
            )
            .hint(format!("found {}", self.found()))),
        }
    }

    fn typed_value(&mut self, subject: &Subject, after: &Token) -> Result<Value, QueryError> {
        let token = self.value(after)?;
        convert(subject, token)
    }

    fn list(&mut self, subject: &Subject, after: &Token) -> Result<Vec<Value>, QueryError> {
        let open = match self.peek() {
            Some(t) if t.is_symbol("[") || t.is_symbol("(") => self.bump().expect("peeked"),
            _ => {
                return Err(error(
                    format!("expected a list such as [a, b] after '{}'", after.text),
                    self.position(),
                )
                .hint(format!("found {}", self.found())));
            }
        };
        let close = if open.text == "[" { "]" } else { ")" };
        let mut values = Vec::new();
        loop {
            match self.peek() {
                Some(t) if t.is_value() => {
                    let token = self.bump().expect("peeked");
                    values.push(convert(subject, token)?);
                }
                _ => {
                    return Err(error("expected a value in the list", self.position())
                        .hint(format!("found {}", self.found())));
                }
            }
            match self.peek() {
                Some(t) if t.is_symbol(",") => {
                    self.bump();
                }
                Some(t) if t.is_symbol(close) => {
                    self.bump();
                    return Ok(values);
                }
                _ => {
                    return Err(
                        error(format!("expected ',' or '{close}'"), self.position()).hint(format!(
                            "found {}, and the '{}' at position {} is still open",
                            self.found(),
                            open.text,
                            open.position
                        )),
                    );
                }
            }
        }
    }
}

/// Checks and converts an argument for its subject, so a bad date or count is a parse error
/// instead of a silently false comparison.
fn convert(subject: &Subject, token: Token) -> Result<Value, QueryError> {
    match subject {
        Subject::RunningTasksCount => token.text.parse().map(Value::Count).map_err(|_| {
            error(
                format!("expected a whole number, found '{}'", token.text),
                token.position,
            )
        }),
        Subject::RegisteredAt => match parse_date(&token.text) {
            Some((seconds, date_only)) => Ok(Value::Date {
                seconds,
                date_only,
                text: token.text,
            }),
            None => Err(
                error(format!("invalid date '{}'", token.text), token.position).hint(
                    "expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss, optionally followed by Z or an \
                 offset such as +00:00",
                ),
            ),
        },
        Subject::AgentConnected => match token.text.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(Value::Text(b.to_owned())),
            _ => Err(error(
                format!("expected true or false, found '{}'", token.text),
                token.position,
            )),
        },
        _ => Ok(Value::Text(token.text)),
    }
}

/// The one-line cause from the regex crate's multi-line report.
fn regex_problem(e: &regex::Error) -> String {
    let report = e.to_string();
    report
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(report.lines().last().unwrap_or_default())
        .to_owned()
}

/// `YYYY-MM-DD`, or `YYYY-MM-DDThh:mm:ss[.fff]` with an optional `Z` or `±hh:mm` (no zone
/// means UTC), the formats the ECS guide lists. Returns seconds since the epoch and whether
/// only a date was given.
fn parse_date(text: &str) -> Option<(i64, bool)> {
    let number = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut fields = date.split('-');
    let year = number(fields.next()?, 4)?;
    let month = number(fields.next()?, 2)?;
    let day = number(fields.next()?, 2)?;
    if fields.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=month_days[(month - 1) as usize]).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let Some(time) = time else {
        return Some((days * DAY, true));
    };
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = zone[1..].replace(':', "");
        let hours = number(zone.get(..2)?, 2)?;
        let minutes = number(zone.get(2..)?, 2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        (clock, sign * (hours * 3600 + minutes * 60))
    } else {
        (time, 0)
    };
    let clock = clock.split_once('.').map_or(clock, |(whole, fraction)| {
        if !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()) {
            whole
        } else {
            ""
        }
    });
    let mut parts = clock.split(':');
    let hour = number(parts.next()?, 2)?;
    let minute = number(parts.next()?, 2)?;
    let second = number(parts.next()?, 2)?;
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((
        days * DAY + hour * 3600 + minute * 60 + second - offset,
        false,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests;
