//! ALB's wildcard patterns: `*` matches any run of characters (including none), `?` exactly one.
//! Query-string conditions also let `\*` and `\?` stand for the literal characters.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    Insensitive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    /// `\` is an ordinary character (path, host and header patterns).
    None,
    /// `\*`, `\?` and `\\` are literals (query-string patterns).
    Backslash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
}

/// A compiled pattern; compiling once per configuration keeps the request path to matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
    case: Case,
}

impl Pattern {
    pub fn new(pattern: &str, case: Case, escapes: Escapes) -> Pattern {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let token = match c {
                '\\' if escapes == Escapes::Backslash => match chars.next() {
                    Some(escaped) => Token::Literal(fold(escaped, case)),
                    None => Token::Literal('\\'),
                },
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                other => Token::Literal(fold(other, case)),
            };
            tokens.push(token);
        }
        Pattern { tokens, case }
    }

    /// Greedy matching with one backtrack point (the last `*`): linear in practice, never
    /// exponential, whatever the pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().map(|c| fold(c, self.case)).collect();
        let (mut t, mut p) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(Token::AnyOne) => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    // Let the last `*` swallow one more character and retry from there.
                    Some((star, start)) => {
                        p = star + 1;
                        t = start + 1;
                        backtrack = Some((star, start + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|token| *token == Token::AnyRun)
    }
}

fn fold(c: char, case: Case) -> char {
    match case {
        Case::Sensitive => c,
        // ALB compares case-insensitively in ASCII (host names, header values, query strings).
        Case::Insensitive => c.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensitive(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern, Case::Sensitive, Escapes::None).matches(text)
    }

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(sensitive("/api", "/api"));
        assert!(!sensitive("/api", "/api/"));
        assert!(!sensitive("/api", "/ap"));
        assert!(!sensitive("/api", "/API"));
        assert!(sensitive("", ""));
        assert!(!sensitive("", "x"));
    }

    #[test]
    fn star_matches_any_run_including_none() {
        assert!(sensitive("/api/*", "/api/"));
        assert!(sensitive("/api/*", "/api/v1/users"));
        assert!(!sensitive("/api/*", "/api"));
        assert!(sensitive("*", ""));
        assert!(sensitive("*.jpg", "/img/a.b.jpg"));
        assert!(!sensitive("*.jpg", "/img/a.jpg.png"));
        assert!(sensitive("/a*b*c", "/aXXbYYbZc"));
        assert!(!sensitive("/a*b*c", "/aXXbYYbZ"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(sensitive("/v?/x", "/v1/x"));
        assert!(!sensitive("/v?/x", "/v/x"));
        assert!(!sensitive("/v?/x", "/v12/x"));
        assert!(sensitive("/é?", "/éü"));
    }

    #[test]
    fn insensitive_patterns_fold_ascii_case() {
        let host = Pattern::new("*.Example.com", Case::Insensitive, Escapes::None);
        assert!(host.matches("API.example.COM"));
        assert!(!host.matches("example.com"));
    }

    #[test]
    fn backslash_escapes_only_where_enabled() {
        let query = Pattern::new("a\\*b", Case::Insensitive, Escapes::Backslash);
        assert!(query.matches("a*b"));
        assert!(!query.matches("aXb"));
        let literal_backslash = Pattern::new("a\\*b", Case::Sensitive, Escapes::None);
        assert!(literal_backslash.matches("a\\XYZb"));
        let trailing = Pattern::new("a\\", Case::Sensitive, Escapes::Backslash);
        assert!(trailing.matches("a\\"));
    }

    #[test]
    fn many_stars_stay_linear() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(200);
        assert!(!sensitive(&pattern, &text));
    }
}
