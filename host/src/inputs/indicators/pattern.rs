//! STIX 2.1 patterns, read far enough to answer one question: which IP
//! addresses or networks, each on its own, satisfy the pattern? Only those can
//! become indicators of a rule that matches single sessions.
//!
//! An address compared with `=` (or `IN`, or `ISSUBSET` a network) satisfies
//! the pattern when nothing but `OR` joins it to the rest. Under `AND`,
//! `FOLLOWEDBY`, `NOT`, another operator or a qualifier (`WITHIN`, `REPEATS`,
//! `START`/`STOP`) it does not, and the indicator is skipped with that reason.
//!
//! Past 500 lines by its tests: every operator, qualifier and nesting limit.

/// Object paths whose value is an IP address or network. Sentinel's own rules
/// read the `network-traffic` references too.
const ADDRESS_PATHS: [&str; 4] = [
    "ipv4-addr:value",
    "ipv6-addr:value",
    "network-traffic:src_ref.value",
    "network-traffic:dst_ref.value",
];

/// Why a pattern yields no address: the reasons the readers count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unusable {
    /// Domains, hashes, URLs, files: nothing about IP addresses.
    NoAddress,
    /// An address that must be seen together with something else.
    Conjunction,
    /// An address under `WITHIN`, `REPEATS` or `START`/`STOP`.
    Qualified,
    /// `!=`, `<`, `LIKE`, `MATCHES`, `ISSUPERSET` or `NOT` on an address.
    Operator,
}

impl Unusable {
    /// The reason as the summary line names it.
    pub fn reason(self) -> &'static str {
        match self {
            Unusable::NoAddress => "no IPv4/IPv6 address comparison",
            Unusable::Conjunction => "address joined by AND or FOLLOWEDBY",
            Unusable::Qualified => "address under WITHIN, REPEATS or START/STOP",
            Unusable::Operator => "address compared by an operator other than =, IN, ISSUBSET",
        }
    }
}

/// The addresses (as written) that alone satisfy `pattern`, or why there are
/// none. A pattern that cannot be read is an error with a reason.
pub fn addresses(pattern: &str) -> Result<Result<Vec<String>, Unusable>, String> {
    let tokens = tokenize(pattern)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let expression = parser.observation_or()?;
    if let Some(token) = parser.tokens.get(parser.at) {
        return Err(format!("unexpected {token:?}"));
    }
    let mut found = Vec::new();
    Ok(sufficient(&expression, &mut found).map(|()| {
        let mut seen = std::collections::HashSet::new();
        found.retain(|address| seen.insert(address.clone()));
        found
    }))
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    LeftBracket,
    RightBracket,
    LeftParen,
    RightParen,
    Comma,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Symbol(String),
    /// A keyword, an object path or a number.
    Word(String),
    /// A quoted literal; the prefix (`t`, `h`, `b`) is kept apart.
    Literal {
        prefix: Option<char>,
        text: String,
    },
}

fn tokenize(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = pattern.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' | ']' | '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '[' => Token::LeftBracket,
                    ']' => Token::RightBracket,
                    '(' => Token::LeftParen,
                    ')' => Token::RightParen,
                    _ => Token::Comma,
                });
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let mut symbol = c.to_string();
                if let Some(&(_, '=')) = chars.peek() {
                    chars.next();
                    symbol.push('=');
                }
                if symbol == "!" {
                    return Err(format!("stray '!' at {start}"));
                }
                tokens.push(Token::Symbol(symbol));
            }
            '\'' => {
                chars.next();
                tokens.push(Token::Literal {
                    prefix: None,
                    text: literal(&mut chars, start)?,
                });
            }
            _ => {
                let mut word = String::new();
                while let Some(&(at, c)) = chars.peek() {
                    // A quoted path segment: file:hashes.'SHA-256' (in an
                    // object path only, which names its type first).
                    if c == '\'' && word.ends_with('.') && word.contains(':') {
                        chars.next();
                        word.push_str(&literal(&mut chars, at)?);
                        continue;
                    }
                    // A list index inside a path: resolves_to_refs[*].value.
                    if c == '[' && !word.is_empty() {
                        for (_, c) in chars.by_ref() {
                            word.push(c);
                            if c == ']' {
                                break;
                            }
                        }
                        continue;
                    }
                    if c.is_whitespace() || "[]()',=!<>".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                // t'…', h'…', b'…': typed literals.
                if let (Some(prefix @ ('t' | 'h' | 'b')), 1, Some(&(_, '\''))) =
                    (word.chars().next(), word.len(), chars.peek())
                {
                    chars.next();
                    tokens.push(Token::Literal {
                        prefix: Some(prefix),
                        text: literal(&mut chars, start)?,
                    });
                } else if word.is_empty() {
                    return Err(format!("unexpected {c:?} at {start}"));
                } else {
                    tokens.push(Token::Word(word));
                }
            }
        }
    }
    Ok(tokens)
}

/// The rest of a quoted literal, its closing quote consumed; `\'` and `\\`
/// are escapes.
fn literal(
    chars: &mut std::iter::Peekable<std::str::CharIndices>,
    start: usize,
) -> Result<String, String> {
    let mut text = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' => return Ok(text),
            '\\' => match chars.next() {
                Some((_, escaped)) => text.push(escaped),
                None => break,
            },
            c => text.push(c),
        }
    }
    Err(format!("unterminated string starting at {start}"))
}

/// A pattern, reduced to what decides whether an address alone satisfies it.
#[derive(Debug)]
enum Expression {
    Or(Vec<Expression>),
    /// `AND` or `FOLLOWEDBY`: every part must be seen.
    All(Vec<Expression>),
    /// An observation under a qualifier.
    Qualified(Box<Expression>),
    /// `ipv4-addr:value = '…'` and friends: the addresses any of which satisfies it.
    Addresses(Vec<String>),
    /// A comparison on an address that an address alone does not satisfy.
    OtherOperator,
    /// A comparison on anything else.
    NotAddress,
}

use crate::limits::PATTERN_DEPTH as MAX_DEPTH;

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses and brackets open at `at`.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, String> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or("pattern ends too early")?;
        self.at += 1;
        Ok(token)
    }

    fn expect(&mut self, wanted: Token) -> Result<(), String> {
        match self.next()? {
            token if token == wanted => Ok(()),
            token => Err(format!("expected {wanted:?}, found {token:?}")),
        }
    }

    /// `read` one level deeper, which must then close with `closing`.
    fn nested(
        &mut self,
        read: fn(&mut Parser) -> Result<Expression, String>,
        closing: Token,
    ) -> Result<Expression, String> {
        if self.depth == MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        self.depth += 1;
        let inner = read(self)?;
        self.expect(closing)?;
        self.depth -= 1;
        Ok(inner)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// Parts joined by the keyword `joiner`, each read by `part`.
    fn joined(
        &mut self,
        joiners: &[&str],
        part: fn(&mut Parser) -> Result<Expression, String>,
        join: fn(Vec<Expression>) -> Expression,
    ) -> Result<Expression, String> {
        let mut parts = vec![part(self)?];
        while joiners.iter().any(|joiner| self.keyword(joiner)) {
            self.at += 1;
            parts.push(part(self)?);
        }
        Ok(match parts.len() {
            1 => parts.remove(0),
            _ => join(parts),
        })
    }

    fn observation_or(&mut self) -> Result<Expression, String> {
        self.joined(&["OR"], Parser::observation_and, Expression::Or)
    }

    fn observation_and(&mut self) -> Result<Expression, String> {
        self.joined(
            &["AND", "FOLLOWEDBY"],
            Parser::qualified_observation,
            Expression::All,
        )
    }

    fn qualified_observation(&mut self) -> Result<Expression, String> {
        let observation = match self.next()? {
            Token::LeftBracket => self.nested(Parser::comparison_or, Token::RightBracket)?,
            Token::LeftParen => self.nested(Parser::observation_or, Token::RightParen)?,
            token => return Err(format!("expected '[' or '(', found {token:?}")),
        };
        // Qualifiers in a row qualify it once: what matters is that it is.
        let mut qualified = false;
        while self.keyword("WITHIN") || self.keyword("REPEATS") || self.keyword("START") {
            self.qualifier()?;
            qualified = true;
        }
        Ok(match qualified {
            true => Expression::Qualified(Box::new(observation)),
            false => observation,
        })
    }

    fn qualifier(&mut self) -> Result<(), String> {
        let (operand, closing) = match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case("WITHIN") => ("a number", "SECONDS"),
            Token::Word(w) if w.eq_ignore_ascii_case("REPEATS") => ("a number", "TIMES"),
            _ => ("a time", "STOP"),
        };
        self.next()
            .map_err(|_| format!("qualifier needs {operand}"))?;
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case(closing) => {}
            token => return Err(format!("expected {closing}, found {token:?}")),
        }
        if closing == "STOP" {
            self.next().map_err(|_| "STOP needs a time".to_owned())?;
        }
        Ok(())
    }

    fn comparison_or(&mut self) -> Result<Expression, String> {
        self.joined(&["OR"], Parser::comparison_and, Expression::Or)
    }

    fn comparison_and(&mut self) -> Result<Expression, String> {
        self.joined(&["AND"], Parser::comparison, Expression::All)
    }

    fn comparison(&mut self) -> Result<Expression, String> {
        let path = match self.next()? {
            Token::LeftParen => return self.nested(Parser::comparison_or, Token::RightParen),
            Token::Word(path) => path,
            token => return Err(format!("expected an object path, found {token:?}")),
        };
        // A bare term, as the STIX elevator writes for what it could not
        // convert (`unconverted_term:…`): it names no address.
        if self.keyword("OR")
            || self.keyword("AND")
            || matches!(self.peek(), Some(Token::RightBracket | Token::RightParen))
        {
            return Ok(Expression::NotAddress);
        }
        let negated = self.keyword("NOT");
        if negated {
            self.at += 1;
        }
        let operator = match self.next()? {
            Token::Symbol(symbol) => symbol,
            Token::Word(word) => word.to_ascii_uppercase(),
            token => return Err(format!("expected an operator, found {token:?}")),
        };
        let values = self.value()?;
        let is_address = ADDRESS_PATHS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&path));
        Ok(match operator.as_str() {
            _ if !is_address => Expression::NotAddress,
            "=" | "IN" | "ISSUBSET" if !negated => Expression::Addresses(values),
            _ => Expression::OtherOperator,
        })
    }

    /// A literal, or a parenthesised set of them (for `IN`).
    fn value(&mut self) -> Result<Vec<String>, String> {
        match self.next()? {
            Token::Literal { text, .. } => Ok(vec![text]),
            Token::Word(word) if unquoted_value(&word) => Ok(vec![word]),
            Token::LeftParen => {
                let mut values = Vec::new();
                loop {
                    match self.next()? {
                        Token::Literal { text, .. } => values.push(text),
                        Token::Word(word) if unquoted_value(&word) => values.push(word),
                        token => return Err(format!("expected a value, found {token:?}")),
                    }
                    match self.next()? {
                        Token::Comma => {}
                        Token::RightParen => return Ok(values),
                        token => return Err(format!("expected ',' or ')', found {token:?}")),
                    }
                }
            }
            token => Err(format!("expected a value, found {token:?}")),
        }
    }
}

/// What STIX writes unquoted as a value: a number or a boolean.
fn unquoted_value(word: &str) -> bool {
    word.parse::<f64>().is_ok()
        || word.eq_ignore_ascii_case("true")
        || word.eq_ignore_ascii_case("false")
}

/// Collects the addresses that alone satisfy `expression`; when none do, the
/// most telling reason why.
fn sufficient(expression: &Expression, found: &mut Vec<String>) -> Result<(), Unusable> {
    match expression {
        Expression::Addresses(values) => {
            found.extend(values.iter().cloned());
            Ok(())
        }
        Expression::NotAddress => Err(Unusable::NoAddress),
        Expression::OtherOperator => Err(Unusable::Operator),
        Expression::All(parts) => Err(match mentions_address(parts) {
            true => Unusable::Conjunction,
            false => Unusable::NoAddress,
        }),
        Expression::Qualified(inner) => Err(match mentions_address(std::slice::from_ref(inner)) {
            true => Unusable::Qualified,
            false => Unusable::NoAddress,
        }),
        Expression::Or(parts) => {
            let before = found.len();
            // Of the alternatives that yield nothing, the reason naming an
            // address is the more useful one to report.
            let mut reason = Unusable::NoAddress;
            for part in parts {
                if let Err(why) = sufficient(part, found) {
                    reason = reason.max(why);
                }
            }
            match found.len() > before {
                true => Ok(()),
                false => Err(reason),
            }
        }
    }
}

fn mentions_address(parts: &[Expression]) -> bool {
    parts.iter().any(|part| match part {
        Expression::Addresses(_) | Expression::OtherOperator => true,
        Expression::NotAddress => false,
        Expression::Or(parts) | Expression::All(parts) => mentions_address(parts),
        Expression::Qualified(inner) => mentions_address(std::slice::from_ref(inner)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(pattern: &str) -> Vec<String> {
        addresses(pattern).unwrap().unwrap()
    }

    fn unusable(pattern: &str) -> Unusable {
        addresses(pattern).unwrap().unwrap_err()
    }

    #[test]
    fn single_addresses_and_networks() {
        assert_eq!(
            usable("[ipv4-addr:value = '198.51.100.7']"),
            ["198.51.100.7"]
        );
        assert_eq!(usable("[ ipv4-addr:value = '10.0.0.0' ]"), ["10.0.0.0"]);
        assert_eq!(
            usable("[ipv4-addr:value = '223.166.0.0/15']"),
            ["223.166.0.0/15"]
        );
        assert_eq!(
            usable("[ipv6-addr:value = '2001:db8::/32']"),
            ["2001:db8::/32"]
        );
        assert_eq!(
            usable("[ipv4-addr:value ISSUBSET '198.51.100.0/24']"),
            ["198.51.100.0/24"]
        );
        assert_eq!(
            usable("[network-traffic:dst_ref.value = '203.0.113.9']"),
            ["203.0.113.9"]
        );
    }

    #[test]
    fn alternatives_each_yield_an_address_and_other_terms_are_ignored() {
        assert_eq!(
            usable("[domain-name:value = 'evil.example' OR ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']"),
            ["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(
            usable("[ipv4-addr:value = '1.2.3.4'] OR [file:hashes.MD5 = 'abc'] OR [ipv4-addr:value = '1.2.3.4']"),
            ["1.2.3.4"]
        );
        assert_eq!(
            usable("[ipv4-addr:value IN ('1.2.3.4', '5.6.7.8')]"),
            ["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(
            usable("([ipv4-addr:value = '1.2.3.4'] AND [file:name = 'x']) OR [ipv4-addr:value = '9.9.9.9']"),
            ["9.9.9.9"]
        );
    }

    #[test]
    fn what_an_address_alone_does_not_satisfy_is_named() {
        assert_eq!(
            unusable("[domain-name:value = 'evil.example']"),
            Unusable::NoAddress
        );
        assert_eq!(
            unusable("[file:hashes.'SHA-256' = 'aa' AND file:name = 'x']"),
            Unusable::NoAddress
        );
        assert_eq!(
            unusable("[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '5.6.7.8']"),
            Unusable::Conjunction
        );
        assert_eq!(
            unusable("[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 443]"),
            Unusable::Conjunction
        );
        assert_eq!(
            unusable("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'x']"),
            Unusable::Conjunction
        );
        assert_eq!(
            unusable("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES WITHIN 60 SECONDS"),
            Unusable::Qualified
        );
        assert_eq!(
            unusable("[ipv4-addr:value = '1.2.3.4'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'"),
            Unusable::Qualified
        );
        assert_eq!(
            unusable("[ipv4-addr:value != '1.2.3.4']"),
            Unusable::Operator
        );
        assert_eq!(
            unusable("[ipv4-addr:value NOT = '1.2.3.4']"),
            Unusable::Operator
        );
        assert_eq!(
            unusable("[ipv4-addr:value MATCHES '^1\\\\.2'] OR [domain-name:value = 'x']"),
            Unusable::Operator
        );
    }

    #[test]
    fn bare_terms_of_the_stix_elevator_are_not_addresses() {
        assert_eq!(
            usable("[mutex:name = 'x' OR unconverted_term:fireeye:observable-1 OR ipv4-addr:value = '1.2.3.4']"),
            ["1.2.3.4"]
        );
        assert_eq!(
            unusable("[unconverted_term:fireeye:observable-1]"),
            Unusable::NoAddress
        );
    }

    #[test]
    fn list_indexes_in_paths() {
        assert_eq!(
            unusable("[domain-name:resolves_to_refs[*].value = '10.87.1.7']"),
            Unusable::NoAddress
        );
        assert_eq!(
            usable("[domain-name:resolves_to_refs[0].value = '10.87.1.7' OR ipv4-addr:value = '10.87.1.7']"),
            ["10.87.1.7"]
        );
    }

    #[test]
    fn quotes_and_escapes_inside_literals() {
        assert_eq!(
            usable(r"[domain-name:value = 'it\'s ] OR [' OR ipv4-addr:value = '1.2.3.4']"),
            ["1.2.3.4"]
        );
    }

    #[test]
    fn unreadable_patterns_are_errors_not_panics() {
        for pattern in [
            "",
            "[",
            "[ipv4-addr:value = '1.2.3.4'",
            "ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr:value = '1.2.3.4] ",
            "[ipv4-addr:value =]",
            "[ipv4-addr:value = '1'] OR",
            "[a:b = 'c'] WITHIN",
            "[a ! 'b']",
            "[a:b IN ('c' 'd')]",
            "[ipv4-addr:value = .'198.51.100.1']",
            "[ipv4-addr:value = :.'198.51.100.1']",
            "[ipv4-addr:value = 198.51.100.1]",
        ] {
            assert!(addresses(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn nesting_is_bounded_on_a_small_stack() {
        let address = "[ipv4-addr:value = '198.51.100.1']";
        let nested = |levels: usize| "(".repeat(levels) + address + &")".repeat(levels);
        let inside = |levels: usize| {
            format!(
                "[{}ipv4-addr:value = '198.51.100.1'{}]",
                "(".repeat(levels),
                ")".repeat(levels)
            )
        };
        let qualified = format!("{address}{}", " WITHIN 5 SECONDS".repeat(100_000));
        // A small stack, as threads that read files have.
        let outcomes = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                (
                    addresses(&nested(MAX_DEPTH - 1)),
                    addresses(&inside(MAX_DEPTH - 1)),
                    addresses(&nested(100_000)),
                    addresses(&inside(100_000)),
                    addresses(&qualified),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(outcomes.0, Ok(Ok(vec!["198.51.100.1".to_owned()])));
        assert_eq!(outcomes.1, Ok(Ok(vec!["198.51.100.1".to_owned()])));
        let too_deep = Err(format!("nested more than {MAX_DEPTH} levels deep"));
        assert_eq!(outcomes.2, too_deep);
        assert_eq!(outcomes.3, too_deep);
        assert_eq!(outcomes.4, Ok(Err(Unusable::Qualified)));
    }
}
