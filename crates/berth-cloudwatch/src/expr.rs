//! GetMetricData's math expressions, the simple part of CloudWatch's metric math: numbers,
//! the ids of other queries, `+ - * /` and parentheses, arrays `[m1, m2]`, `METRICS()` (every
//! metric-stat query, or those whose id or label contains a string), `SUM`, `AVG`, `MIN`,
//! `MAX` (across an array, timestamp by timestamp; of one series, a scalar) and
//! `FILL(series, number)`. Other functions are refused by name rather than guessed.
//!
//! Series meet timestamp by timestamp: a timestamp missing from either side of an operation is
//! missing from its result, as is a division by zero.

use std::collections::BTreeMap;

use crate::CloudWatchError;

/// A time series: value by timestamp (ms).
pub type Series = BTreeMap<i64, f64>;

/// One query's result an expression can name.
#[derive(Debug, Clone)]
pub struct Named<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub series: &'a Series,
    /// A metric-stat query (what `METRICS()` lists), not another expression.
    pub is_metric: bool,
}

/// An expression's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Series(Series),
    Array(Vec<Series>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Text(String),
    Symbol(char),
}

fn refuse(expression: &str, detail: impl std::fmt::Display) -> CloudWatchError {
    CloudWatchError::InvalidParameterValue(format!("Error in expression '{expression}': {detail}"))
}

fn tokenize(expression: &str) -> Result<Vec<Token>, CloudWatchError> {
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let number = text
                .parse()
                .map_err(|_| refuse(expression, format!("Invalid number '{text}'")))?;
            tokens.push(Token::Number(number));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Name(chars[start..i].iter().collect()));
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or_else(|| refuse(expression, "Unterminated string"))?;
            tokens.push(Token::Text(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "+-*/()[],".contains(c) {
            tokens.push(Token::Symbol(c));
            i += 1;
        } else {
            return Err(refuse(expression, format!("Unexpected character '{c}'")));
        }
    }
    Ok(tokens)
}

struct Evaluator<'a> {
    expression: &'a str,
    tokens: Vec<Token>,
    at: usize,
    named: &'a [Named<'a>],
    grid: &'a [i64],
}

/// Evaluates `expression` over the other queries' results; `grid` holds the period starts of
/// the request (where FILL puts its values).
pub fn evaluate(
    expression: &str,
    named: &[Named<'_>],
    grid: &[i64],
) -> Result<Value, CloudWatchError> {
    let mut evaluator = Evaluator {
        expression,
        tokens: tokenize(expression)?,
        at: 0,
        named,
        grid,
    };
    let value = evaluator.sum()?;
    if evaluator.at != evaluator.tokens.len() {
        return Err(refuse(expression, "Unexpected input after the expression"));
    }
    Ok(value)
}

impl Evaluator<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, symbol: char) -> bool {
        if self.peek() == Some(&Token::Symbol(symbol)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: char) -> Result<(), CloudWatchError> {
        if self.eat(symbol) {
            Ok(())
        } else {
            Err(refuse(self.expression, format!("Expected '{symbol}'")))
        }
    }

    fn sum(&mut self) -> Result<Value, CloudWatchError> {
        let mut value = self.product()?;
        loop {
            let op = if self.eat('+') {
                '+'
            } else if self.eat('-') {
                '-'
            } else {
                return Ok(value);
            };
            let right = self.product()?;
            value = combine(value, right, op);
        }
    }

    fn product(&mut self) -> Result<Value, CloudWatchError> {
        let mut value = self.unary()?;
        loop {
            let op = if self.eat('*') {
                '*'
            } else if self.eat('/') {
                '/'
            } else {
                return Ok(value);
            };
            let right = self.unary()?;
            value = combine(value, right, op);
        }
    }

    fn unary(&mut self) -> Result<Value, CloudWatchError> {
        if self.eat('-') {
            let value = self.unary()?;
            return Ok(combine(Value::Scalar(-1.0), value, '*'));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Value, CloudWatchError> {
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| refuse(self.expression, "Unexpected end of expression"))?;
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Value::Scalar(n)),
            Token::Symbol('(') => {
                let value = self.sum()?;
                self.expect(')')?;
                Ok(value)
            }
            Token::Symbol('[') => {
                let mut members = Vec::new();
                loop {
                    match self.sum()? {
                        Value::Series(s) => members.push(s),
                        Value::Array(a) => members.extend(a),
                        Value::Scalar(_) => {
                            return Err(refuse(
                                self.expression,
                                "An array holds time series, not numbers",
                            ));
                        }
                    }
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect(']')?;
                Ok(Value::Array(members))
            }
            Token::Name(name) if self.peek() == Some(&Token::Symbol('(')) => {
                self.at += 1;
                self.function(&name)
            }
            Token::Name(name) => self
                .named
                .iter()
                .find(|n| n.id == name)
                .map(|n| Value::Series(n.series.clone()))
                .ok_or_else(|| refuse(self.expression, format!("Unrecognized id '{name}'"))),
            other => Err(refuse(self.expression, format!("Unexpected {other:?}"))),
        }
    }

    fn function(&mut self, name: &str) -> Result<Value, CloudWatchError> {
        match name {
            "METRICS" => {
                let filter = match self.peek().cloned() {
                    Some(Token::Text(text)) => {
                        self.at += 1;
                        Some(text)
                    }
                    _ => None,
                };
                self.expect(')')?;
                Ok(Value::Array(
                    self.named
                        .iter()
                        .filter(|n| n.is_metric)
                        .filter(|n| {
                            filter.as_ref().is_none_or(|f| {
                                n.id.contains(f.as_str()) || n.label.contains(f.as_str())
                            })
                        })
                        .map(|n| n.series.clone())
                        .collect(),
                ))
            }
            "SUM" | "AVG" | "MIN" | "MAX" => {
                let argument = self.sum()?;
                self.expect(')')?;
                Ok(reduce(name, argument))
            }
            "FILL" => {
                let series = self.sum()?;
                self.expect(',')?;
                let Value::Scalar(fill) = self.sum()? else {
                    return Err(refuse(
                        self.expression,
                        "FILL takes a number as its second argument",
                    ));
                };
                self.expect(')')?;
                let fill_one = |s: Series| -> Series {
                    self.grid
                        .iter()
                        .map(|t| (*t, s.get(t).copied().unwrap_or(fill)))
                        .collect()
                };
                match series {
                    Value::Series(s) => Ok(Value::Series(fill_one(s))),
                    Value::Array(a) => Ok(Value::Array(a.into_iter().map(fill_one).collect())),
                    Value::Scalar(_) => Err(refuse(
                        self.expression,
                        "FILL takes a time series as its first argument",
                    )),
                }
            }
            other => Err(refuse(
                self.expression,
                format!("Unsupported function '{other}'"),
            )),
        }
    }
}

fn apply(left: f64, right: f64, op: char) -> Option<f64> {
    let value = match op {
        '+' => left + right,
        '-' => left - right,
        '*' => left * right,
        _ if right == 0.0 => return None,
        _ => left / right,
    };
    value.is_finite().then_some(value)
}

fn series_with_scalar(series: Series, scalar: f64, op: char, scalar_first: bool) -> Series {
    series
        .into_iter()
        .filter_map(|(t, v)| {
            let value = if scalar_first {
                apply(scalar, v, op)
            } else {
                apply(v, scalar, op)
            };
            Some((t, value?))
        })
        .collect()
}

fn combine(left: Value, right: Value, op: char) -> Value {
    match (left, right) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            apply(a, b, op).map_or(Value::Series(Series::new()), Value::Scalar)
        }
        (Value::Series(s), Value::Scalar(b)) => Value::Series(series_with_scalar(s, b, op, false)),
        (Value::Scalar(a), Value::Series(s)) => Value::Series(series_with_scalar(s, a, op, true)),
        (Value::Series(a), Value::Series(b)) => Value::Series(
            a.into_iter()
                .filter_map(|(t, x)| Some((t, apply(x, *b.get(&t)?, op)?)))
                .collect(),
        ),
        (Value::Array(members), other) => Value::Array(
            members
                .into_iter()
                .filter_map(|m| match combine(Value::Series(m), other.clone(), op) {
                    Value::Series(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        (other, Value::Array(members)) => Value::Array(
            members
                .into_iter()
                .filter_map(|m| match combine(other.clone(), Value::Series(m), op) {
                    Value::Series(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
    }
}

fn fold(name: &str, values: &[f64]) -> f64 {
    match name {
        "SUM" => values.iter().sum(),
        "AVG" => values.iter().sum::<f64>() / values.len() as f64,
        "MIN" => values.iter().copied().fold(f64::INFINITY, f64::min),
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

fn reduce(name: &str, argument: Value) -> Value {
    match argument {
        Value::Scalar(v) => Value::Scalar(v),
        Value::Series(s) if s.is_empty() => Value::Series(s),
        Value::Series(s) => Value::Scalar(fold(name, &s.values().copied().collect::<Vec<_>>())),
        Value::Array(members) => {
            let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            for member in &members {
                for (t, v) in member {
                    by_time.entry(*t).or_default().push(*v);
                }
            }
            Value::Series(
                by_time
                    .into_iter()
                    .map(|(t, vs)| (t, fold(name, &vs)))
                    .collect(),
            )
        }
    }
}

/// The expression's result as one series over the grid: a scalar holds at every grid
/// timestamp; an array is refused, since a query answers one series.
pub fn as_series(expression: &str, value: Value, grid: &[i64]) -> Result<Series, CloudWatchError> {
    match value {
        Value::Series(s) => Ok(s),
        Value::Scalar(v) => Ok(grid.iter().map(|t| (*t, v)).collect()),
        Value::Array(_) => Err(refuse(
            expression,
            "The expression returns several time series; Berth answers one series per query",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(i64, f64)]) -> Series {
        points.iter().copied().collect()
    }

    fn run(expression: &str) -> Result<Value, CloudWatchError> {
        let m1 = series(&[(0, 1.0), (60, 2.0), (120, 3.0)]);
        let m2 = series(&[(0, 10.0), (120, 30.0)]);
        let e1 = series(&[(0, 100.0)]);
        let named = [
            Named {
                id: "m1",
                label: "cpu web",
                series: &m1,
                is_metric: true,
            },
            Named {
                id: "m2",
                label: "cpu api",
                series: &m2,
                is_metric: true,
            },
            Named {
                id: "e1",
                label: "",
                series: &e1,
                is_metric: false,
            },
        ];
        evaluate(expression, &named, &[0, 60, 120])
    }

    #[test]
    fn arithmetic_meets_series_by_timestamp() {
        assert_eq!(
            run("m1 + m2").unwrap(),
            Value::Series(series(&[(0, 11.0), (120, 33.0)]))
        );
        assert_eq!(
            run("m1 * 2 + 1").unwrap(),
            Value::Series(series(&[(0, 3.0), (60, 5.0), (120, 7.0)]))
        );
        assert_eq!(
            run("100 * (m2 - m1) / m2").unwrap(),
            Value::Series(series(&[(0, 90.0), (120, 90.0)]))
        );
        assert_eq!(
            run("-m1").unwrap(),
            Value::Series(series(&[(0, -1.0), (60, -2.0), (120, -3.0)]))
        );
        // Division by zero leaves the timestamp out.
        assert_eq!(
            run("m1 / (m1 - 2)").unwrap(),
            Value::Series(series(&[(0, -1.0), (120, 3.0)]))
        );
        assert_eq!(run("2 * 3.5").unwrap(), Value::Scalar(7.0));
    }

    #[test]
    fn functions_over_arrays_and_series() {
        assert_eq!(
            run("SUM(METRICS())").unwrap(),
            Value::Series(series(&[(0, 11.0), (60, 2.0), (120, 33.0)]))
        );
        assert_eq!(
            run("MAX([m1, m2])").unwrap(),
            Value::Series(series(&[(0, 10.0), (60, 2.0), (120, 30.0)]))
        );
        assert_eq!(
            run("AVG(METRICS('web'))").unwrap(),
            Value::Series(series(&[(0, 1.0), (60, 2.0), (120, 3.0)]))
        );
        assert_eq!(run("AVG(m1)").unwrap(), Value::Scalar(2.0));
        assert_eq!(run("MIN(m2)").unwrap(), Value::Scalar(10.0));
        assert_eq!(
            run("FILL(m2, 0)").unwrap(),
            Value::Series(series(&[(0, 10.0), (60, 0.0), (120, 30.0)]))
        );
        assert_eq!(
            run("SUM(FILL(METRICS(), 1))").unwrap(),
            Value::Series(series(&[(0, 11.0), (60, 3.0), (120, 33.0)]))
        );
        // METRICS() lists metric-stat queries only, not other expressions.
        assert_eq!(
            run("SUM(METRICS())").unwrap(),
            run("SUM([m1, m2])").unwrap()
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert_eq!(
            run("ANOMALY_DETECTION_BAND(m1)").unwrap_err().to_string(),
            "Error in expression 'ANOMALY_DETECTION_BAND(m1)': Unsupported function 'ANOMALY_DETECTION_BAND'"
        );
        assert!(
            run("m9 + 1")
                .unwrap_err()
                .to_string()
                .contains("Unrecognized id 'm9'")
        );
        assert!(run("m1 +").is_err());
        assert!(run("(m1").is_err());
        assert!(run("m1 m2").is_err());
        assert!(as_series("METRICS()", run("METRICS()").unwrap(), &[0]).is_err());
        assert_eq!(
            as_series("5", Value::Scalar(5.0), &[0, 60]).unwrap(),
            series(&[(0, 5.0), (60, 5.0)])
        );
    }
}
